//! `tenant add` and `tenant list`: rows of the `tenants` table, with their public widget
//! keys. Validation and output live here; SQL lives in `crate::database`.

use anyhow::{anyhow, bail, ensure};

use crate::database::{Database, InsertOutcome, TenantRow, now_ms};
use crate::output;

/// A tenant to add, as given on the command line.
pub struct NewTenant {
    pub id: String,
    pub name: String,
    pub widget_key: Option<String>,
    /// Settings JSON (rate limits, escalation policy, retrieval weights); `{}` when absent.
    pub settings: Option<String>,
    /// Webhook URLs may name private or local hosts (`--allow-private-webhooks`).
    pub allow_private_webhooks: bool,
}

/// What `add` did: a message for stderr and the widget key for stdout.
pub struct Added {
    pub message: String,
    pub widget_key: String,
}

pub fn add(db: &mut dyn Database, new: NewTenant, if_missing: bool) -> anyhow::Result<Added> {
    validate_id(&new.id)?;
    let name = new.name.trim();
    ensure!(!name.is_empty(), "--name must not be empty");
    let widget_key = match new.widget_key {
        Some(key) => {
            validate_widget_key(&key)?;
            key
        }
        None => new_widget_key()?,
    };
    let settings = match new.settings {
        Some(text) => {
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| anyhow!("--settings is not valid JSON: {e}"))?;
            ensure!(value.is_object(), "--settings must be a JSON object");
            let handoff = core_logic::handoff::HandoffSettings::from_settings(&text)
                .map_err(|e| anyhow!("--settings: {e}"))?;
            if !new.allow_private_webhooks {
                handoff.check_destinations().map_err(|e| {
                    anyhow!("--settings: {e} (--allow-private-webhooks accepts it, for local development)")
                })?;
            }
            value.to_string()
        }
        None => "{}".into(),
    };
    require_schema(db)?;
    let row = TenantRow {
        id: new.id,
        name: name.to_string(),
        widget_key,
        settings,
        created_at: now_ms(),
    };
    match db.insert_tenant(&row)? {
        InsertOutcome::Inserted => Ok(Added {
            message: format!("added tenant {} ({})", row.id, row.name),
            widget_key: row.widget_key,
        }),
        InsertOutcome::IdExists(existing) if if_missing => Ok(Added {
            message: format!("tenant {} exists already; left unchanged", existing.id),
            widget_key: existing.widget_key,
        }),
        InsertOutcome::IdExists(existing) => bail!(
            "tenant {} exists already (pass --if-missing to accept an existing tenant)",
            existing.id
        ),
        InsertOutcome::WidgetKeyTaken => bail!("that widget key belongs to another tenant"),
    }
}

/// The tenants as an aligned table, or as a JSON array.
pub fn list(db: &mut dyn Database, json: bool) -> anyhow::Result<String> {
    require_schema(db)?;
    let tenants = db.tenants()?;
    if json {
        let items: Vec<serde_json::Value> = tenants
            .iter()
            .map(|t| {
                serde_json::json!({
                    "id": t.id,
                    "name": t.name,
                    "widget_key": t.widget_key,
                    "settings": serde_json::from_str::<serde_json::Value>(&t.settings)
                        .map(redact_secrets)
                        .unwrap_or_else(|_| serde_json::Value::String("(invalid JSON)".into())),
                    "created_at": t.created_at,
                })
            })
            .collect();
        return Ok(format!("{}\n", serde_json::to_string_pretty(&items)?));
    }
    let mut rows = vec![vec![
        "ID".to_string(),
        "NAME".to_string(),
        "WIDGET KEY".to_string(),
        "CREATED (UTC)".to_string(),
    ]];
    rows.extend(tenants.iter().map(|t| {
        vec![
            t.id.clone(),
            t.name.clone(),
            t.widget_key.clone(),
            output::format_ms(t.created_at),
        ]
    }));
    Ok(output::table(&rows))
}

fn require_schema(db: &mut dyn Database) -> anyhow::Result<()> {
    ensure!(
        db.has_tenants_table()?,
        "the database has no tenants table; run `kb-loader migrate` first"
    );
    Ok(())
}

fn validate_id(id: &str) -> anyhow::Result<()> {
    ensure!(
        (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
        "--id must be 1 to 64 letters, digits, `-`, `_` or `.`"
    );
    Ok(())
}

fn validate_widget_key(key: &str) -> anyhow::Result<()> {
    ensure!(
        (1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()),
        "--widget-key must be 1 to 128 visible ASCII characters"
    );
    Ok(())
}

/// `wk_` and 128 random bits in hex.
fn new_widget_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("the system random source failed: {e}"))?;
    Ok(format!("wk_{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_widget_keys_are_prefixed_and_distinct() {
        let a = new_widget_key().unwrap();
        let b = new_widget_key().unwrap();
        assert!(a.starts_with("wk_") && a.len() == 35, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn ids_and_widget_keys_are_validated() {
        assert!(validate_id("acme-eu_1.x").is_ok());
        for bad in ["", "has space", "ünï", &"x".repeat(65)] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
        assert!(validate_widget_key("wk_demo").is_ok());
        assert!(validate_widget_key("wk demo").is_err());
        assert!(validate_widget_key("").is_err());
    }
}

/// The settings with every credential (webhook secrets, API tokens and keys, inbound
/// secrets) replaced by `"***"`, for printing.
fn redact_secrets(mut settings: serde_json::Value) -> serde_json::Value {
    let hidden = serde_json::Value::String("***".into());
    if let Some(handoff) = settings.get_mut("handoff") {
        if let Some(hooks) = handoff.get_mut("webhooks").and_then(|h| h.as_array_mut()) {
            for hook in hooks.iter_mut().filter_map(|h| h.as_object_mut()) {
                for key in ["secret", "api_token", "api_key"] {
                    if let Some(v) = hook.get_mut(key) {
                        *v = hidden.clone();
                    }
                }
            }
        }
        if let Some(inbound) = handoff.get_mut("inbound").and_then(|i| i.as_object_mut()) {
            for (key, v) in inbound.iter_mut() {
                if key != "zendesk_api_user_id" {
                    *v = hidden.clone();
                }
            }
        }
    }
    settings
}

#[cfg(test)]
mod redaction_tests {
    use super::redact_secrets;

    #[test]
    fn credentials_never_print() {
        let settings = serde_json::json!({
            "rate_limits": {"per_visitor": 5},
            "handoff": {
                "webhooks": [{"name": "zd", "format": "zendesk", "url": "https://a.zendesk.com",
                              "secret": "s1", "email": "a@b.c", "api_token": "t1"}],
                "inbound": {"zendesk": "s2", "zendesk_api_user_id": 7}
            }
        });
        let shown = redact_secrets(settings).to_string();
        for secret in ["\"s1\"", "\"t1\"", "\"s2\""] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("a@b.c") && shown.contains("per_visitor") && shown.contains(":7"));
    }
}
