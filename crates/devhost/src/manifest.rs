//! The Spin application manifest (`spin.toml`, manifest version 2): parsing and validation.
//!
//! This module turns the TOML into plain, checked data. It does not load components,
//! resolve variables or build the router; those live in `app`, `variables` and `routes`.
//! Every validation error names the manifest field it is about, the way `spin up` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A manifest problem, always naming the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid manifest {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Deserialize)]
struct RawApplication {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    trigger: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
}

#[derive(Debug, Default, Deserialize)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    #[serde(default)]
    id: Option<String>,
    route: RawRoute,
    component: toml::Value,
    #[serde(default)]
    executor: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    files: Vec<RawFileMount>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    allowed_http_hosts: Option<toml::Value>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<toml::Table>,
    #[serde(default)]
    tool: Option<toml::Table>,
    #[serde(default)]
    dependencies_inherit_configuration: Option<bool>,
    #[serde(default)]
    dependencies: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawFileMount {
    Pattern(String),
    Placement { source: String, destination: String },
}

/// An application variable as declared in `[variables]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    pub default: Option<String>,
    pub required: bool,
    pub secret: bool,
}

/// Where a trigger's requests may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A public route as written in the manifest, e.g. `/api/...`.
    Path(String),
    /// Reachable only through service chaining (`http://<id>.spin.internal`).
    Private,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    pub route: Route,
    pub component: String,
}

/// A `files` entry of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileMount {
    /// A glob (or plain path) relative to the manifest; matches keep their relative path.
    Pattern(String),
    /// A file or directory mounted at an absolute guest path.
    Placement {
        source: PathBuf,
        destination: String,
    },
}

/// One `[component.<id>]` table, validated.
#[derive(Debug, Clone)]
pub struct ComponentDecl {
    pub id: String,
    pub source: PathBuf,
    pub files: Vec<FileMount>,
    pub exclude_files: Vec<String>,
    pub allowed_outbound_hosts: Vec<String>,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub variables: BTreeMap<String, String>,
}

/// The whole manifest, validated. Paths are absolute (resolved against the manifest's folder).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub version: Option<String>,
    pub base_dir: PathBuf,
    pub base: String,
    pub variables: BTreeMap<String, VariableDecl>,
    pub http_triggers: Vec<HttpTrigger>,
    pub components: BTreeMap<String, ComponentDecl>,
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base_dir = std::path::absolute(&base_dir).unwrap_or(base_dir);
        Self::parse(&text, &base_dir).map_err(|message| ManifestError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses manifest text; relative paths are resolved against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, String> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| e.to_string())?;
        match &raw.spin_manifest_version {
            toml::Value::Integer(2) => {}
            toml::Value::String(s) if s == "2" => {}
            other => {
                return Err(format!(
                    "`spin_manifest_version`: expected 2, found {other}; devhost reads manifest version 2 only"
                ));
            }
        }
        let _ = (
            &raw.application.description,
            &raw.application.authors,
            &raw.trigger.other,
        );
        if raw.application.name.trim().is_empty() {
            return Err("`application.name`: must not be empty".into());
        }
        let base = raw
            .application
            .trigger
            .as_ref()
            .and_then(|t| t.get("http"))
            .and_then(|h| h.get("base"))
            .and_then(|b| b.as_str())
            .unwrap_or("/")
            .to_string();

        let mut variables = BTreeMap::new();
        for (name, v) in raw.variables {
            check_variable_name(&name).map_err(|e| format!("`variables.{name}`: {e}"))?;
            if v.required && v.default.is_some() {
                return Err(format!(
                    "`variables.{name}`: a variable cannot be both `required` and have a `default`"
                ));
            }
            if !v.required && v.default.is_none() {
                return Err(format!(
                    "`variables.{name}`: give it a `default` or mark it `required = true`"
                ));
            }
            variables.insert(
                name,
                VariableDecl {
                    default: v.default,
                    required: v.required,
                    secret: v.secret,
                },
            );
        }

        let mut components = BTreeMap::new();
        for (id, c) in raw.component {
            let field = format!("component.{id}");
            check_component_id(&id).map_err(|e| format!("`{field}`: {e}"))?;
            let _ = (
                &c.description,
                &c.build,
                &c.tool,
                &c.ai_models,
                &c.dependencies_inherit_configuration,
            );
            if c.allowed_http_hosts.is_some() {
                return Err(format!(
                    "`{field}.allowed_http_hosts`: not valid in manifest version 2; use `allowed_outbound_hosts`"
                ));
            }
            if c.dependencies.is_some() {
                return Err(format!(
                    "`{field}.dependencies`: component dependencies are not supported by devhost"
                ));
            }
            let source = match &c.source {
                toml::Value::String(s) if !s.trim().is_empty() => base_dir.join(s),
                toml::Value::Table(_) => {
                    return Err(format!(
                        "`{field}.source`: remote sources (url/registry) are not supported by devhost; build the component and give its file path"
                    ));
                }
                _ => return Err(format!("`{field}.source`: expected a file path")),
            };
            let mut files = Vec::new();
            for (i, f) in c.files.into_iter().enumerate() {
                files.push(match f {
                    RawFileMount::Pattern(p) => FileMount::Pattern(p),
                    RawFileMount::Placement {
                        source,
                        destination,
                    } => {
                        if !destination.starts_with('/') {
                            return Err(format!(
                                "`{field}.files[{i}].destination`: must be an absolute path, found {destination:?}"
                            ));
                        }
                        FileMount::Placement {
                            source: base_dir.join(source),
                            destination,
                        }
                    }
                });
            }
            // Templated entries are checked once variables are resolved, at app load.
            for (i, host) in c
                .allowed_outbound_hosts
                .iter()
                .enumerate()
                .filter(|(_, h)| !h.contains("{{"))
            {
                crate::outbound_http::allowed_hosts::AllowedHostConfig::parse(host).map_err(
                    |e| format!("`{field}.allowed_outbound_hosts[{i}]` ({host:?}): {e}"),
                )?;
            }
            for (name, _) in c.variables.iter() {
                check_variable_name(name)
                    .map_err(|e| format!("`{field}.variables.{name}`: {e}"))?;
            }
            components.insert(
                id.clone(),
                ComponentDecl {
                    id,
                    source,
                    files,
                    exclude_files: c.exclude_files,
                    allowed_outbound_hosts: c.allowed_outbound_hosts,
                    key_value_stores: c.key_value_stores,
                    sqlite_databases: c.sqlite_databases,
                    environment: c.environment,
                    variables: c.variables,
                },
            );
        }

        let mut http_triggers = Vec::new();
        for (i, t) in raw.trigger.http.into_iter().enumerate() {
            let field = format!("trigger.http[{i}]");
            let _ = (&t.id, &t.executor);
            let component = match t.component {
                toml::Value::String(s) => s,
                toml::Value::Table(_) => {
                    return Err(format!(
                        "`{field}.component`: inline components are not supported by devhost; declare `[component.<id>]` and name it"
                    ));
                }
                _ => return Err(format!("`{field}.component`: expected a component id")),
            };
            if !components.contains_key(&component) {
                return Err(format!(
                    "`{field}.component`: no component named {component:?} in `[component.*]`"
                ));
            }
            let route = match t.route {
                RawRoute::Path(p) => {
                    if !p.starts_with('/') {
                        return Err(format!("`{field}.route`: must start with '/', found {p:?}"));
                    }
                    if p.starts_with("/.well-known/spin/") || p == "/.well-known/spin/..." {
                        return Err(format!(
                            "`{field}.route`: routes under /.well-known/spin/ are reserved by Spin"
                        ));
                    }
                    Route::Path(p)
                }
                RawRoute::Private { private: true } => Route::Private,
                RawRoute::Private { private: false } => {
                    return Err(format!(
                        "`{field}.route`: `private = false` is not allowed; give a route path instead"
                    ));
                }
            };
            http_triggers.push(HttpTrigger { route, component });
        }

        Ok(Manifest {
            name: raw.application.name,
            version: raw.application.version,
            base_dir: base_dir.to_owned(),
            base,
            variables,
            http_triggers,
            components,
        })
    }
}

/// Spin's rule for variable names: lowercase letters, digits and underscores, starting with a letter.
pub fn check_variable_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!(
            "invalid variable name {name:?}: use lowercase letters, digits and underscores, starting with a letter"
        ));
    }
    Ok(())
}

/// Spin's rule for component ids: lower-kebab-case words of letters and digits.
fn check_component_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.split('-').all(|word| {
            !word.is_empty()
                && word.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid component id {id:?}: use lower-kebab-case (letters and digits, words joined by '-')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "app"
[variables]
greeting = { default = "hi" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/hello/..."
component = "hello"
[[trigger.http]]
route = { private = true }
component = "hello"
[component.hello]
source = "hello.wasm"
allowed_outbound_hosts = ["https://example.com", "redis://127.0.0.1:6379"]
files = ["static/**", { source = "assets", destination = "/assets" }]
[component.hello.variables]
message = "{{ greeting }} there"
[component.hello.build]
command = "cargo build"
"#;

    fn parse(text: &str) -> Result<Manifest, String> {
        Manifest::parse(text, Path::new("/app"))
    }

    #[test]
    fn valid_manifest_is_read_with_paths_resolved() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.name, "app");
        assert_eq!(m.http_triggers.len(), 2);
        assert_eq!(m.http_triggers[1].route, Route::Private);
        let c = &m.components["hello"];
        assert_eq!(c.source, PathBuf::from("/app/hello.wasm"));
        assert_eq!(c.files.len(), 2);
        assert!(m.variables["token"].secret);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                GOOD.replace("spin_manifest_version = 2", "spin_manifest_version = 1"),
                "spin_manifest_version",
            ),
            (
                GOOD.replace(
                    "component = \"hello\"\n[[trigger",
                    "component = \"nope\"\n[[trigger",
                ),
                "trigger.http[0].component",
            ),
            (
                GOOD.replace("route = \"/hello/...\"", "route = \"hello\""),
                "trigger.http[0].route",
            ),
            (
                GOOD.replace("route = { private = true }", "route = { private = false }"),
                "trigger.http[1].route",
            ),
            (
                GOOD.replace("route = \"/hello/...\"", "route = \"/.well-known/spin/x\""),
                "trigger.http[0].route",
            ),
            (
                GOOD.replace("[component.hello]", "[component.Hello_X]")
                    .replace("component.hello.", "component.Hello_X.")
                    .replace("component = \"hello\"", "component = \"Hello_X\""),
                "component.Hello_X",
            ),
            (
                GOOD.replace("\"redis://127.0.0.1:6379\"", "\"ftp://x/path\""),
                "component.hello.allowed_outbound_hosts[1]",
            ),
            (
                GOOD.replace(
                    "greeting = { default = \"hi\" }",
                    "Greeting = { default = \"hi\" }",
                ),
                "variables.Greeting",
            ),
            (
                GOOD.replace("greeting = { default = \"hi\" }", "greeting = {}"),
                "variables.greeting",
            ),
            (
                GOOD.replace("destination = \"/assets\"", "destination = \"assets\""),
                "component.hello.files[1].destination",
            ),
            (
                GOOD.replace(
                    "source = \"hello.wasm\"",
                    "source = { url = \"https://x\", digest = \"sha256:1\" }",
                ),
                "component.hello.source",
            ),
        ];
        for (text, field) in cases {
            let err = parse(&text).expect_err(field);
            assert!(err.contains(field), "error {err:?} should name {field}");
        }
    }

    #[test]
    fn unknown_component_field_is_rejected_by_name() {
        let text = GOOD.replace(
            "source = \"hello.wasm\"",
            "source = \"hello.wasm\"\nsourc = \"x\"",
        );
        let err = parse(&text).unwrap_err();
        assert!(err.contains("sourc"), "{err}");
    }
}
