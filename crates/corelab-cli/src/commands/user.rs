//! `corelab user add | list | disable | enable | passwd | token`.

use super::{actor, open};
use crate::cli::{Global, UserCommand};
use crate::output::emit;
use anyhow::{Context, Result, bail};
use corelab_core::Grant;
use corelab_server::http::auth;
use corelab_store::NewUser;
use serde_json::json;
use std::io::{BufRead, Write};

/// The password on the first line of `path` (`-`: standard input).
fn read_password(path: &str) -> Result<String> {
    let line = if path == "-" {
        let mut l = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut l)
            .context("cannot read the password from standard input")?;
        l
    } else {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the password file {path}"))?;
        text.lines().next().unwrap_or_default().to_owned()
    };
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.is_empty() {
        bail!("{path}: the password is empty");
    }
    Ok(pw)
}

fn hash(path: &str) -> Result<String> {
    auth::hash_password(&read_password(path)?).map_err(anyhow::Error::msg)
}

pub async fn run(g: &Global, c: &UserCommand) -> Result<u8> {
    let store = open(g).await?;
    let who = actor(g);
    match c {
        UserCommand::Add {
            username,
            name,
            grants,
            password_file,
        } => {
            let grants = grants
                .iter()
                .map(|g| Grant::parse(g))
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)?;
            let hash = hash(password_file)?;
            let u = store
                .add_user(
                    &who,
                    &NewUser {
                        username,
                        display_name: name,
                        password_hash: &hash,
                        grants: &grants,
                    },
                )
                .await?;
            emit(g.json, &u, |u| {
                let gs: Vec<String> = u.grants.iter().map(Grant::to_string).collect();
                format!("user {} added ({})", u.username, gs.join(", "))
            })?;
        }
        UserCommand::List => {
            let users = store.users().await?;
            emit(g.json, &users, |us| {
                us.iter()
                    .map(|u| {
                        let gs: Vec<String> = u.grants.iter().map(Grant::to_string).collect();
                        format!(
                            "{}\t{}\t{}\t{}",
                            u.username,
                            u.display_name,
                            if u.disabled { "disabled" } else { "active" },
                            gs.join(", ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        UserCommand::Disable { username } | UserCommand::Enable { username } => {
            let disabled = matches!(c, UserCommand::Disable { .. });
            store.set_disabled(&who, username, disabled).await?;
            emit(
                g.json,
                &json!({"username": username, "disabled": disabled}),
                |_| {
                    format!(
                        "user {username} {}",
                        if disabled { "disabled" } else { "enabled" }
                    )
                },
            )?;
        }
        UserCommand::Passwd {
            username,
            password_file,
        } => {
            let hash = hash(password_file)?;
            store.set_password(&who, username, &hash).await?;
            emit(g.json, &json!({"username": username}), |_| {
                format!("password of {username} changed; their sessions ended")
            })?;
        }
        UserCommand::Token {
            username,
            name,
            days,
            out,
        } => {
            let secret = auth::new_secret().map_err(anyhow::Error::msg)?;
            let expires = days.map(|d| {
                corelab_store::time::now_plus(std::time::Duration::from_secs(u64::from(d) * 86_400))
            });
            store
                .add_api_token(
                    &who,
                    username,
                    name,
                    &auth::secret_digest(&secret),
                    expires.as_deref(),
                )
                .await?;
            let shown = match out {
                Some(path) => {
                    write_secret(path, &secret)?;
                    None
                }
                None => Some(secret.clone()),
            };
            emit(
                g.json,
                &json!({"username": username, "name": name, "expires_at": expires, "token": shown}),
                |_| match &shown {
                    Some(t) => t.clone(),
                    None => format!("token {name} of {username} written"),
                },
            )?;
        }
    }
    store.checkpoint().await?;
    Ok(0)
}

/// Writes a secret (a line) to a new file only its owner can read, flushed to disk.
pub(super) fn write_secret(path: &std::path::Path, secret: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(f, "{secret}")
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
