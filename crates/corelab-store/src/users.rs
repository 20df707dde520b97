//! Users, their grants, sessions and API tokens. Passwords arrive here already hashed (argon2id,
//! by the server's `auth` module); sessions and tokens are kept by the SHA-256 of their secret,
//! so nothing in the database can be replayed. Every change, logins and failed logins included,
//! is audited in the same transaction.

use crate::audit::NewEvent;
use crate::error::{Result, StoreError};
use crate::store::{Store, WriteTx};
use crate::time::now_text;
use corelab_core::{Grant, Principal, Role, Sha256Digest};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// A user as listed (never with the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    /// User name.
    pub username: String,
    /// Printed name (shown on signatures).
    pub display_name: String,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// What the user holds.
    pub grants: Vec<Grant>,
    /// When the account was made.
    pub created_at: String,
}

/// What a login is checked against.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The user's row.
    pub user_id: i64,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// Failed logins since the last success.
    pub failed_logins: i64,
    /// When the last one was.
    pub last_failed_at: Option<String>,
}

/// A new account.
#[derive(Clone, Debug)]
pub struct NewUser<'a> {
    /// User name.
    pub username: &'a str,
    /// Printed name.
    pub display_name: &'a str,
    /// The argon2id PHC string of the password.
    pub password_hash: &'a str,
    /// Its grants.
    pub grants: &'a [Grant],
}

impl Store {
    /// Adds a user with their grants; the trials and sites named must exist.
    pub async fn add_user(&self, actor: &str, u: &NewUser<'_>) -> Result<UserInfo> {
        let name = u.username.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        {
            return Err(StoreError::Invalid(format!(
                "user name {name:?}: 1–64 characters of letters, digits, '.', '_', '-' or '@'"
            )));
        }
        if u.grants.is_empty() {
            return Err(StoreError::Invalid(format!(
                "user {name}: at least one grant (admin, qc@TRIAL, site@TRIAL/SITE, …)"
            )));
        }
        let mut tx = self.begin(actor).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, password_hash, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(u.display_name)
        .bind(u.password_hash)
        .bind(now_text())
        .fetch_one(tx.conn())
        .await
        .map_err(|e| {
            if crate::ingest::is_unique(&e) {
                StoreError::Conflict(format!("user {name} already exists"))
            } else {
                StoreError::db("adding a user")(e)
            }
        })?;
        for g in u.grants {
            g.check().map_err(StoreError::Invalid)?;
            let (trial_id, site_id) = grant_ids(&mut tx, g).await?;
            sqlx::query(
                "INSERT INTO user_grants (user_id, role, trial_id, site_id) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(g.role.as_str())
            .bind(trial_id)
            .bind(site_id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::db("recording a grant"))?;
        }
        let grants: Vec<String> = u.grants.iter().map(Grant::to_string).collect();
        tx.record(
            NewEvent::new("user.add", "user", name).after(
                &json!({"username": name, "display_name": u.display_name, "grants": grants}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.user_info(name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {name} vanished after creation")))
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserInfo>> {
        self.users_named("").await
    }

    /// One user, if there is one of that name.
    pub async fn user_info(&self, username: &str) -> Result<Option<UserInfo>> {
        if username.is_empty() {
            return Ok(None);
        }
        Ok(self.users_named(username).await?.into_iter().next())
    }

    /// The users of a name (all when `username` is empty), with their grants: two queries,
    /// however many users there are.
    async fn users_named(&self, username: &str) -> Result<Vec<UserInfo>> {
        let rows = sqlx::query(
            "SELECT id, username, display_name, disabled, created_at FROM users \
             WHERE ($1 = '' OR username = $1) ORDER BY username",
        )
        .bind(username)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("listing users"))?;
        let mut grants = self.grants_of_users(username).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let ctx = || StoreError::db("reading users");
            let id: i64 = r.try_get("id").map_err(ctx())?;
            out.push(UserInfo {
                username: r.try_get("username").map_err(ctx())?,
                display_name: r.try_get("display_name").map_err(ctx())?,
                disabled: r.try_get::<i64, _>("disabled").map_err(ctx())? != 0,
                grants: grants.remove(&id).unwrap_or_default(),
                created_at: r.try_get("created_at").map_err(ctx())?,
            });
        }
        Ok(out)
    }

    /// What a login by `username` is checked against, if the user exists.
    pub async fn credentials(&self, username: &str) -> Result<Option<Credentials>> {
        let row = sqlx::query(
            "SELECT id, password_hash, disabled, failed_logins, last_failed_at FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(self.db.pool())
        .await
        .map_err(StoreError::db("reading a user"))?;
        let Some(r) = row else { return Ok(None) };
        let ctx = || StoreError::db("reading a user");
        Ok(Some(Credentials {
            user_id: r.try_get("id").map_err(ctx())?,
            password_hash: r.try_get("password_hash").map_err(ctx())?,
            disabled: r.try_get::<i64, _>("disabled").map_err(ctx())? != 0,
            failed_logins: r.try_get("failed_logins").map_err(ctx())?,
            last_failed_at: r.try_get("last_failed_at").map_err(ctx())?,
        }))
    }

    /// Sets a user's password (already hashed); their sessions end.
    pub async fn set_password(
        &self,
        actor: &str,
        username: &str,
        password_hash: &str,
    ) -> Result<()> {
        let mut tx = self.begin(actor).await?;
        let id = user_id(&mut tx, username).await?;
        sqlx::query("UPDATE users SET password_hash = $1, failed_logins = 0 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::db("changing a password"))?;
        end_sessions_of(&mut tx, id).await?;
        tx.record(NewEvent::new("user.password", "user", username))
            .await?;
        tx.commit().await
    }

    /// Disables (or enables again) an account; disabling ends its sessions and its tokens stop
    /// working.
    pub async fn set_disabled(&self, actor: &str, username: &str, disabled: bool) -> Result<()> {
        let mut tx = self.begin(actor).await?;
        let id = user_id(&mut tx, username).await?;
        sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::db("disabling a user"))?;
        if disabled {
            end_sessions_of(&mut tx, id).await?;
        }
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        tx.record(NewEvent::new(action, "user", username)).await?;
        tx.commit().await
    }

    /// Records a failed login (counted for throttling), audited.
    pub async fn login_failed(&self, actor: &str, username: &str, why: &str) -> Result<()> {
        let mut tx = self.begin(actor).await?;
        sqlx::query(
            "UPDATE users SET failed_logins = failed_logins + 1, last_failed_at = $1 WHERE username = $2",
        )
        .bind(now_text())
        .bind(username)
        .execute(tx.conn())
        .await
        .map_err(StoreError::db("counting a failed login"))?;
        tx.record(
            NewEvent::new("user.login_failed", "user", username).details(json!({"why": why})),
        )
        .await?;
        tx.commit().await
    }

    /// Records a successful login: a session whose secret hashes to `token`, until `expires_at`.
    pub async fn start_session(
        &self,
        actor: &str,
        user_id: i64,
        token: &Sha256Digest,
        expires_at: &str,
    ) -> Result<()> {
        let mut tx = self.begin(actor).await?;
        let username = username_of(&mut tx, user_id).await?;
        sqlx::query("UPDATE users SET failed_logins = 0, last_failed_at = NULL WHERE id = $1")
            .bind(user_id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::db("resetting failed logins"))?;
        sqlx::query(
            "INSERT INTO sessions (token_sha256, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token.to_hex())
        .bind(user_id)
        .bind(now_text())
        .bind(expires_at)
        .execute(tx.conn())
        .await
        .map_err(StoreError::db("starting a session"))?;
        tx.record(
            NewEvent::new("user.login", "user", &username)
                .details(json!({"session_expires_at": expires_at})),
        )
        .await?;
        tx.commit().await
    }

    /// Ends a session (logout), audited; an unknown or ended session is a no-op.
    pub async fn end_session(&self, actor: &str, token: &Sha256Digest) -> Result<()> {
        let mut tx = self.begin(actor).await?;
        let user: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM sessions WHERE token_sha256 = $1 AND ended_at IS NULL",
        )
        .bind(token.to_hex())
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::db("finding a session"))?;
        let Some(user) = user else { return Ok(()) };
        sqlx::query("UPDATE sessions SET ended_at = $1 WHERE token_sha256 = $2")
            .bind(now_text())
            .bind(token.to_hex())
            .execute(tx.conn())
            .await
            .map_err(StoreError::db("ending a session"))?;
        let username = username_of(&mut tx, user).await?;
        tx.record(NewEvent::new("user.logout", "user", &username))
            .await?;
        tx.commit().await
    }

    /// The principal of a live session: not ended, not expired, its user not disabled.
    pub async fn session_principal(&self, token: &Sha256Digest) -> Result<Option<Principal>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT s.user_id FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_sha256 = $1 AND s.ended_at IS NULL AND s.expires_at > $2 AND u.disabled = 0",
        )
        .bind(token.to_hex())
        .bind(now_text())
        .fetch_optional(self.db.pool())
        .await
        .map_err(StoreError::db("checking a session"))?;
        match id {
            Some(id) => self.principal(id).await,
            None => Ok(None),
        }
    }

    /// Issues an API token for `username` whose secret hashes to `token`.
    pub async fn add_api_token(
        &self,
        actor: &str,
        username: &str,
        name: &str,
        token: &Sha256Digest,
        expires_at: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin(actor).await?;
        let id = user_id(&mut tx, username).await?;
        sqlx::query(
            "INSERT INTO api_tokens (user_id, name, token_sha256, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(name)
        .bind(token.to_hex())
        .bind(now_text())
        .bind(expires_at)
        .execute(tx.conn())
        .await
        .map_err(|e| {
            if crate::ingest::is_unique(&e) {
                StoreError::Conflict(format!("user {username} already has a token named {name}"))
            } else {
                StoreError::db("issuing a token")(e)
            }
        })?;
        tx.record(
            NewEvent::new("user.token", "user", username)
                .details(json!({"name": name, "expires_at": expires_at})),
        )
        .await?;
        tx.commit().await
    }

    /// The principal of a live API token: not revoked, not expired, its user not disabled.
    pub async fn token_principal(&self, token: &Sha256Digest) -> Result<Option<Principal>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT t.user_id FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL \
               AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled = 0",
        )
        .bind(token.to_hex())
        .bind(now_text())
        .fetch_optional(self.db.pool())
        .await
        .map_err(StoreError::db("checking a token"))?;
        match id {
            Some(id) => self.principal(id).await,
            None => Ok(None),
        }
    }

    async fn principal(&self, id: i64) -> Result<Option<Principal>> {
        let row = sqlx::query("SELECT username, display_name FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(StoreError::db("reading a user"))?;
        let Some(r) = row else { return Ok(None) };
        let ctx = || StoreError::db("reading a user");
        Ok(Some(Principal {
            user_id: id,
            username: r.try_get("username").map_err(ctx())?,
            display_name: r.try_get("display_name").map_err(ctx())?,
            grants: self.grants_of(id).await?,
        }))
    }

    /// The grants of the users of a name (all users when empty), by user row, in grant order.
    async fn grants_of_users(
        &self,
        username: &str,
    ) -> Result<std::collections::BTreeMap<i64, Vec<Grant>>> {
        let rows = sqlx::query(
            "SELECT g.user_id, g.role, t.trial_key, s.site_key FROM user_grants g \
             JOIN users u ON u.id = g.user_id \
             LEFT JOIN trials t ON t.id = g.trial_id LEFT JOIN sites s ON s.id = g.site_id \
             WHERE ($1 = '' OR u.username = $1) ORDER BY g.id",
        )
        .bind(username)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("reading grants"))?;
        let mut out: std::collections::BTreeMap<i64, Vec<Grant>> = Default::default();
        for r in &rows {
            let user: i64 = r
                .try_get("user_id")
                .map_err(StoreError::db("reading grants"))?;
            out.entry(user).or_default().push(grant_row(r)?);
        }
        Ok(out)
    }

    async fn grants_of(&self, user_id: i64) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT g.role, t.trial_key, s.site_key FROM user_grants g \
             LEFT JOIN trials t ON t.id = g.trial_id LEFT JOIN sites s ON s.id = g.site_id \
             WHERE g.user_id = $1 ORDER BY g.id",
        )
        .bind(user_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(StoreError::db("reading grants"))?;
        rows.iter().map(grant_row).collect()
    }
}

/// A grant from a row of `role`, `trial_key`, `site_key`.
fn grant_row(r: &sqlx::any::AnyRow) -> Result<Grant> {
    let ctx = || StoreError::db("reading grants");
    let role: String = r.try_get("role").map_err(ctx())?;
    Ok(Grant {
        role: role.parse::<Role>().map_err(StoreError::Invalid)?,
        trial: r.try_get("trial_key").map_err(ctx())?,
        site: r.try_get("site_key").map_err(ctx())?,
    })
}

/// The trial and site rows a grant names.
async fn grant_ids(tx: &mut WriteTx<'_>, g: &Grant) -> Result<(Option<i64>, Option<i64>)> {
    let Some(trial) = &g.trial else {
        return Ok((None, None));
    };
    let trial_id: i64 = sqlx::query_scalar("SELECT id FROM trials WHERE trial_key = $1")
        .bind(trial)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::db("finding a trial"))?
        .ok_or_else(|| StoreError::NotFound(format!("grant {g}: no trial {trial}")))?;
    let Some(site) = &g.site else {
        return Ok((Some(trial_id), None));
    };
    let site_id: i64 =
        sqlx::query_scalar("SELECT id FROM sites WHERE trial_id = $1 AND site_key = $2")
            .bind(trial_id)
            .bind(site)
            .fetch_optional(tx.conn())
            .await
            .map_err(StoreError::db("finding a site"))?
            .ok_or_else(|| {
                StoreError::NotFound(format!("grant {g}: trial {trial} has no site {site}"))
            })?;
    Ok((Some(trial_id), Some(site_id)))
}

async fn user_id(tx: &mut WriteTx<'_>, username: &str) -> Result<i64> {
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::db("finding a user"))?
        .ok_or_else(|| StoreError::NotFound(format!("no user {username}")))
}

async fn username_of(tx: &mut WriteTx<'_>, id: i64) -> Result<String> {
    sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::db("finding a user"))?
        .ok_or_else(|| StoreError::NotFound(format!("no user with id {id}")))
}

async fn end_sessions_of(tx: &mut WriteTx<'_>, user_id: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL")
        .bind(now_text())
        .bind(user_id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::db("ending sessions"))?;
    Ok(())
}
