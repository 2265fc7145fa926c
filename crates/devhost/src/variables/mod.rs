//! `fermyon:spin/variables@2.0.0`: application variables, their providers and templates.
//!
//! Application variables are declared in `[variables]`; values come from the environment
//! provider (`SPIN_VARIABLE_<NAME>`, as Spin's env provider) or the declared default. A
//! component sees only the names in `[component.<id>.variables]`, whose values are templates
//! over application variables (`"{{ name }}"`). Everything is resolved once at start, so a
//! missing required variable stops the app before it serves. Secrets are never printed.

mod host;

use std::collections::BTreeMap;

use crate::manifest::VariableDecl;

pub use host::add_to_linker;

/// Application variable values, resolved from providers and defaults.
#[derive(Debug, Clone, Default)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl AppVariables {
    /// Resolves every declared variable; `lookup` is the provider (the environment in devhost).
    pub fn resolve(
        decls: &BTreeMap<String, VariableDecl>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in decls {
            let env_name = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            match lookup(&env_name).or_else(|| decl.default.clone()) {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None => missing.push(format!("{name} (set {env_name})")),
            }
        }
        if !missing.is_empty() {
            return Err(format!(
                "required variable(s) have no value: {}",
                missing.join(", ")
            ));
        }
        Ok(Self { values })
    }

    /// Renders a template such as `"{{ name }}"` or `"postgres://{{ host }}:5432"`.
    pub fn render(&self, template: &str) -> Result<String, String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unterminated `{{{{` in template {template:?}"))?;
            let name = after[..end].trim();
            crate::manifest::check_variable_name(name)?;
            let value = self
                .values
                .get(name)
                .ok_or_else(|| format!("template refers to undeclared variable {name:?}"))?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err(format!("unmatched `}}}}` in template {template:?}"));
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Resolves a component's `[component.<id>.variables]` table.
    pub fn component_values(
        &self,
        templates: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        templates
            .iter()
            .map(|(k, t)| {
                self.render(t)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| format!("variables.{k}: {e}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls() -> BTreeMap<String, VariableDecl> {
        BTreeMap::from([
            (
                "greeting".to_string(),
                VariableDecl {
                    default: Some("hello".into()),
                    required: false,
                    secret: false,
                },
            ),
            (
                "api_key".to_string(),
                VariableDecl {
                    default: None,
                    required: true,
                    secret: true,
                },
            ),
        ])
    }

    #[test]
    fn environment_overrides_default_and_fills_required() {
        let vars = AppVariables::resolve(&decls(), |k| match k {
            "SPIN_VARIABLE_GREETING" => Some("hi".into()),
            "SPIN_VARIABLE_API_KEY" => Some("k".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            vars.render("{{ greeting }}, {{api_key}}!").unwrap(),
            "hi, k!"
        );
    }

    #[test]
    fn missing_required_variable_stops_start_naming_it() {
        let err = AppVariables::resolve(&decls(), |_| None).unwrap_err();
        assert!(
            err.contains("api_key") && err.contains("SPIN_VARIABLE_API_KEY"),
            "{err}"
        );
    }

    #[test]
    fn template_errors_are_reported() {
        let vars = AppVariables::resolve(&decls(), |_| Some("x".into())).unwrap();
        assert!(vars.render("{{ nope }}").unwrap_err().contains("nope"));
        assert!(
            vars.render("{{ greeting")
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(vars.render("{{ Bad }}").is_err());
        assert_eq!(vars.render("plain").unwrap(), "plain");
    }
}
