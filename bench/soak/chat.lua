-- wrk script for bench/soak: the mixed traffic of a chat site, one connection per wrk thread
-- (run wrk with -t N -c N) so every response pairs with the request before it.
--
-- Thread roles (by index):
--   the first SOAK_POLLERS threads are idle visitors: a widget left open on a page. Each
--   creates a session, then holds the event long-poll the widget holds
--   (GET /api/sessions/{id}/events?after=C&wait=SOAK_WAIT), which comes back empty after
--   SOAK_WAIT seconds; after 4 polls the visitor leaves and a new one arrives.
--   the other threads are chatting visitors, one after another, each:
--     POST /api/sessions                      (widget key)           session
--     GET  /api/sessions/{id}/messages        (page load: history)   history
--     3 x ( POST /api/sessions/{id}/messages  (a question)           message
--           GET  /api/sessions/{id}/events    (the long-poll that
--                returns at once with the new message and reply)    events )
--     GET  /api/sessions/{id}/messages        (page reload)          history
--   and every second visitor, an admin searches the knowledge base
--     POST /api/kb/search                     (admin token)          search
--   so 9.5 requests a visitor: session 10.5 %, history 21 %, message 31.6 %, events
--   31.6 %, search 5.3 %.
--   SOAK_RATE > 0 paces the chatting threads to SOAK_RATE requests/s in total (each thread
--   keeps its own schedule; a late request starts at once, at most 2 s of backlog is kept);
--   SOAK_RATE = 0 is closed loop (as fast as they can: the ceiling).
--   After a failed request (non-2xx or a broken connection) a connection waits as the widget
--   does: 1 s, 2 s, 4 s ... at most 30 s, reset by a success.
--
-- Every completed request is one line in SOAK_OUT/thread-N.log:
--   <unix time s> <route> <status> <latency us>     (status 0: the connection failed)
-- bench/soak/report.py turns them into the tables.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
int clock_gettime(int clk_id, soak_timespec *tp);
]]
local ts = ffi.new("soak_timespec")
local function clock(id)
  ffi.C.clock_gettime(id, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
local function mono() return clock(1) end     -- CLOCK_MONOTONIC
local function wall() return clock(0) end     -- CLOCK_REALTIME

-- main state: number the threads
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

local POLLERS = tonumber(os.getenv("SOAK_POLLERS") or "0")
local ACTORS = tonumber(os.getenv("SOAK_ACTORS") or "1")
local RATE = tonumber(os.getenv("SOAK_RATE") or "0")
local WAIT = tonumber(os.getenv("SOAK_WAIT") or "25")
local WIDGET_KEY = os.getenv("WIDGET_KEY") or "wk_demo"
local ADMIN = os.getenv("SOAK_ADMIN_TOKEN") or ""
local OUT = os.getenv("SOAK_OUT") or "."
local QUESTIONS_FILE = os.getenv("SOAK_QUESTIONS")

local role, log, interval, next_start
local questions = {}
local session_id, token, cursor = nil, nil, 0
local step, visitors, polls = 1, 0, 0
local pending_route, started = nil, 0
local calls = 0
local failures, backoff_until = 0, 0

local ACTOR_PLAN = { "session", "history", "message", "events", "message", "events",
  "message", "events", "history", "search" }
local POLLS_PER_VISITOR = 4

function init(args)
  math.randomseed(tid * 7919 + math.floor(wall() * 1000) % 1000003)
  role = (tid < POLLERS) and "poller" or "actor"
  log = assert(io.open(string.format("%s/thread-%03d.log", OUT, tid), "a"))
  log:setvbuf("line")
  if QUESTIONS_FILE then
    for line in io.lines(QUESTIONS_FILE) do
      -- kept JSON-escaped: it goes back into a JSON body as it is
      local q = line:match('"question"%s*:%s*"(.-[^\\])"')
      if q then questions[#questions + 1] = q end
    end
  end
  if #questions == 0 then questions[1] = "How do I reset my password?" end
  interval = (RATE > 0) and (ACTORS / RATE) or 0
  next_start = mono() + interval * math.random()
end

local function question() return questions[math.random(#questions)] end

local function json_headers(auth)
  local h = { ["Content-Type"] = "application/json" }
  if auth then h["Authorization"] = "Bearer " .. auth end
  return h
end

local function current_route()
  if session_id == nil then return "session" end
  if role == "poller" then return "poll" end
  local r = ACTOR_PLAN[step]
  if r == "search" and visitors % 2 == 1 then
    step = 1
    visitors = visitors + 1
    return "session"
  end
  return r
end

-- After a failed request, wait as the widget does (1 s, 2 s, 4 s ... at most 30 s).
local function failed()
  failures = failures + 1
  backoff_until = mono() + math.min(30, 2 ^ (failures - 1))
end

function delay()
  local now = mono()
  local d = backoff_until - now
  if role == "actor" and interval > 0 then
    local start_at = math.max(next_start, now - 2.0, backoff_until)
    next_start = start_at + interval
    d = start_at - now
  end
  if d <= 0 then return 0 end
  return math.floor(d * 1000)
end

function request()
  calls = calls + 1
  -- wrk calls thread 0's request() once to check the script before it starts: not a request
  if pending_route and not (tid == 0 and calls == 2) then
    -- the previous request got no response (the connection broke): count it
    log:write(string.format("%.3f %s 0 %d\n", wall(), pending_route,
      math.floor((mono() - started) * 1e6)))
    failed()
  end
  local route = current_route()
  if route == "session" then step = 1 end
  pending_route, started = route, mono()
  local base = session_id and ("/api/sessions/" .. session_id) or ""
  if route == "session" then
    return wrk.format("POST", "/api/sessions", json_headers(nil),
      '{"widget_key":"' .. WIDGET_KEY .. '","visitor":{"name":"Soak","locale":"en"}}')
  elseif route == "history" then
    return wrk.format("GET", base .. "/messages?limit=50", json_headers(token))
  elseif route == "message" then
    local h = json_headers(token)
    h["Idempotency-Key"] = string.format("soak-%d-%d-%d-%d", tid, visitors, step,
      math.random(1, 2 ^ 30))
    return wrk.format("POST", base .. "/messages", h, '{"text":"' .. question() .. '"}')
  elseif route == "events" or route == "poll" then
    return wrk.format("GET", string.format("%s/events?after=%d&wait=%d", base, cursor, WAIT),
      json_headers(token))
  else -- search
    return wrk.format("POST", "/api/kb/search", json_headers(ADMIN),
      '{"query":"' .. question() .. '","limit":5}')
  end
end

function response(status, headers, body)
  local route = pending_route or "unknown"
  log:write(string.format("%.3f %s %d %d\n", wall(), route, status,
    math.floor((mono() - started) * 1e6)))
  pending_route = nil
  if status >= 200 and status < 300 then failures = 0 else failed() end
  if route == "session" then
    if status == 201 then
      local s = body:match('"session"%s*:%s*(%b{})')
      session_id = s and s:match('"id"%s*:%s*"([^"]+)"')
      token = body:match('"token"%s*:%s*"([^"]+)"')
      cursor, polls = 0, 0
      step = 2
    else
      session_id = nil -- try again
    end
    return
  end
  if route == "events" or route == "poll" then
    for c in body:gmatch('"cursor"%s*:%s*(%d+)') do
      c = tonumber(c)
      if c > cursor then cursor = c end
    end
  end
  if role == "poller" then
    polls = polls + 1
    if polls >= POLLS_PER_VISITOR then session_id = nil end
    return
  end
  step = step + 1
  if step > #ACTOR_PLAN then
    step = 1
    visitors = visitors + 1
    session_id = nil
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d duration_s=%.1f connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout))
end
