//! The `webhooks` array: endpoints, their events and the secret's environment variable.

use serde_json::Value;

use crate::spec;

use super::{show, Path, Validator};
use crate::error::ErrorCode;
use crate::policy::WebhookEndpoint;

impl Validator {
    pub(super) fn webhook(&mut self, value: &Value, path: &Path<'_>) -> Option<WebhookEndpoint> {
        let map = self.object(value, path, spec::WEBHOOK)?;
        let id = map.get("id").and_then(|v| self.id(v, &path.key("id")));
        let url = map.get("url").and_then(|v| {
            let at = path.key("url");
            let s = self.text(v, &at)?;
            let ok = (s.starts_with("http://") || s.starts_with("https://"))
                && s.len() > 8
                && !s.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                self.problem(
                    &at,
                    ErrorCode::BadWebhook,
                    format!("`{s}` is not an http(s) URL"),
                    "write a URL like `https://hooks.example.com/behalf`",
                );
            }
            ok.then_some(s)
        });
        let events = map.get("events").and_then(|v| {
            let at = path.key("events");
            let Value::Array(items) = v else {
                self.wrong_type(&at, "an array of event types", v);
                return None;
            };
            if items.is_empty() {
                self.problem(
                    &at,
                    ErrorCode::EmptyArray,
                    "no events listed".into(),
                    "list event types, or [\"*\"] for all",
                );
                return None;
            }
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(e) if spec::EVENTS.contains(&e) => out.push(e.to_string()),
                    _ => self.problem(
                        &at.index(i),
                        ErrorCode::BadWebhook,
                        format!("`{}` is not an event type", show(item)),
                        &format!("use one of: {}", spec::EVENTS.join(", ")),
                    ),
                }
            }
            (out.len() == items.len()).then_some(out)
        });
        let secret_env = map
            .get("secretEnv")
            .and_then(|v| self.env_name(v, &path.key("secretEnv")));
        // Absent: None; present and valid: Some(Some); present and invalid: Some(None).
        let previous_secret_env = map.get("previousSecretEnv").map(|v| {
            let at = path.key("previousSecretEnv");
            let name = self.env_name(v, &at)?;
            if secret_env.as_deref() == Some(name.as_str()) {
                self.problem(
                    &at,
                    ErrorCode::BadWebhook,
                    format!("`{name}` is also the `secretEnv`"),
                    "name the variable holding the previous secret, or remove `previousSecretEnv` to end the rotation",
                );
                return None;
            }
            Some(name)
        });
        let description = map
            .get("description")
            .and_then(|v| self.text(v, &path.key("description")));
        Some(WebhookEndpoint {
            id: id?,
            url: url?,
            events: events?,
            secret_env: secret_env?,
            previous_secret_env: match previous_secret_env {
                None => None,
                Some(v) => Some(v?),
            },
            description,
        })
    }

    pub(super) fn env_name(&mut self, v: &Value, at: &Path<'_>) -> Option<String> {
        let s = self.text(v, at)?;
        let ok = !s.is_empty()
            && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            && !s.as_bytes().first().is_some_and(u8::is_ascii_digit);
        if !ok {
            self.problem(
                at,
                ErrorCode::BadWebhook,
                format!("`{s}` is not an environment variable name"),
                "name the variable holding the secret, e.g. `BEHALF_WEBHOOK_SECRET`",
            );
        }
        ok.then_some(s)
    }
}
