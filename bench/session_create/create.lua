-- wrk client for bench/session_create: POST /api/sessions with the bench tenant's widget key.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"widget_key":"' .. os.getenv("WIDGET_KEY") .. '","visitor":{"name":"Bench","locale":"en"}}'
