//! HTTP routing as Spin does it: `routefinder` underneath, so exact routes beat wildcards
//! and the longest matching wildcard prefix wins; a trailing `/...` is a wildcard; `:name`
//! captures a segment; private routes are not routable from outside; a later trigger on the
//! same route replaces an earlier one. Not here: calling the component (see `server`).

use routefinder::Router as Finder;

use crate::manifest::{HttpTrigger, Route};

/// What a route resolves to, with everything the Spin request headers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub component: String,
    /// The route as written, e.g. `/api/...` (`spin-raw-component-route`).
    pub raw_route: String,
    /// The route without its trailing wildcard, e.g. `/api` (`spin-component-route`).
    pub component_route: String,
    /// The part matched by the trailing wildcard (`spin-path-info`), empty for exact routes.
    pub path_info: String,
    /// `:name` captures (`spin-path-match-<name>`).
    pub captures: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Target {
    component: String,
    raw_route: String,
    wildcard: bool,
}

/// The app's public routes.
pub struct Router {
    finder: Finder<Target>,
}

impl Router {
    /// Builds the router; private triggers are left out (they are reached only by service chaining).
    pub fn build(triggers: &[HttpTrigger]) -> Result<Self, String> {
        let mut finder = Finder::new();
        let mut seen: Vec<String> = Vec::new();
        for trigger in triggers {
            let Route::Path(raw) = &trigger.route else {
                continue;
            };
            let (spec, wildcard) = to_routefinder(raw);
            if seen.contains(&spec) {
                tracing::warn!(route = %raw, component = %trigger.component,
                    "two components on the same route: the later one replaces the earlier, as in Spin");
                finder = rebuild_without(&finder, &spec)?;
            }
            seen.push(spec.clone());
            finder
                .add(
                    spec.as_str(),
                    Target {
                        component: trigger.component.clone(),
                        raw_route: raw.clone(),
                        wildcard,
                    },
                )
                .map_err(|e| format!("route {raw:?}: {e}"))?;
        }
        Ok(Self { finder })
    }

    /// Finds the component for a request path, or `None` (404).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let m = self.finder.best_match(path)?;
        let target = m.handler();
        let captures = m.captures();
        let path_info = if target.wildcard {
            match captures.wildcard() {
                Some(w) if !w.is_empty() => format!("/{w}"),
                _ => String::new(),
            }
        } else {
            String::new()
        };
        let component_route = target
            .raw_route
            .strip_suffix("/...")
            .unwrap_or(&target.raw_route)
            .to_string();
        Some(RouteMatch {
            component: target.component.clone(),
            raw_route: target.raw_route.clone(),
            component_route,
            path_info,
            captures: captures
                .params()
                .iter()
                .map(|c| (c.name().to_string(), c.value().to_string()))
                .collect(),
        })
    }
}

fn rebuild_without(finder: &Finder<Target>, spec: &str) -> Result<Finder<Target>, String> {
    let mut fresh = Finder::new();
    for (route, target) in finder.iter() {
        let (existing, _) = to_routefinder(&target.raw_route);
        if existing != spec {
            fresh
                .add(route.clone(), target.clone())
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(fresh)
}

/// Spin's `/...` wildcard is routefinder's `*`.
fn to_routefinder(route: &str) -> (String, bool) {
    match route.strip_suffix("/...") {
        Some(prefix) => (format!("{prefix}/*"), true),
        None if route == "/..." => ("/*".into(), true),
        None => (route.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let triggers: Vec<HttpTrigger> = routes
            .iter()
            .map(|(r, c)| HttpTrigger {
                route: if *r == "private" {
                    Route::Private
                } else {
                    Route::Path(r.to_string())
                },
                component: c.to_string(),
            })
            .collect();
        Router::build(&triggers).unwrap()
    }

    #[test]
    fn exact_beats_wildcard_and_longest_prefix_wins() {
        let r = router(&[
            ("/...", "root"),
            ("/api/...", "api"),
            ("/api/health", "health"),
        ]);
        assert_eq!(r.route("/api/health").unwrap().component, "health");
        assert_eq!(r.route("/api/other").unwrap().component, "api");
        assert_eq!(r.route("/elsewhere").unwrap().component, "root");
    }

    #[test]
    fn wildcard_matches_its_prefix_and_reports_path_info() {
        let r = router(&[("/api/...", "api")]);
        let m = r.route("/api/a/b").unwrap();
        assert_eq!(m.path_info, "/a/b");
        assert_eq!(m.component_route, "/api");
        assert_eq!(m.raw_route, "/api/...");
        assert_eq!(r.route("/api").unwrap().path_info, "");
    }

    #[test]
    fn exact_route_does_not_match_longer_paths() {
        let r = router(&[("/health", "health")]);
        assert!(r.route("/health").is_some());
        assert!(r.route("/health/x").is_none());
        assert!(r.route("/").is_none());
    }

    #[test]
    fn named_segments_are_captured() {
        let r = router(&[("/users/:id/...", "users")]);
        let m = r.route("/users/42/posts").unwrap();
        assert_eq!(m.captures, vec![("id".to_string(), "42".to_string())]);
        assert_eq!(m.path_info, "/posts");
    }

    #[test]
    fn private_routes_are_not_routable() {
        let r = router(&[("private", "secret")]);
        assert!(r.route("/").is_none());
        assert!(r.route("/secret").is_none());
    }

    #[test]
    fn later_trigger_on_same_route_replaces_earlier() {
        let r = router(&[("/x/...", "first"), ("/x/...", "second")]);
        assert_eq!(r.route("/x/y").unwrap().component, "second");
    }
}
