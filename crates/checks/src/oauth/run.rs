//! The OAuth checks as the [`Prober`] runs them: the token check (grant, then the token's
//! diagnostics) and the login checks (capabilities, then XOAUTH2), each on one connection.

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::token::{self, NoToken};
use super::{claims, findings, xoauth2};
use super::{MailboxSpec, OAuthMailboxReport, OAuthTokenReport, Protocol, Secret};
use crate::catalog::{CheckId, CheckSpec, Dialog, HttpExpect};
use crate::failure::Stage;
use crate::http::{post_form, HttpPost};
use crate::mail;
use crate::net::micros;
use crate::probe::{conclude_single, new_report, Connected};
use crate::report::{CheckReport, OAuthInfo, ProtocolInfo};
use crate::{Prober, StageError};

/// Puts the mailbox (and the token's user, when known) into the hints' placeholders.
fn fill_mailbox(report: &mut CheckReport, mailbox: &str, token_user: Option<&str>) {
    let fill = |f: &mut crate::Finding| {
        f.hint = f.hint.replace("<mailbox>", mailbox);
        if let Some(u) = token_user {
            f.hint = f.hint.replace("<token user>", u);
        }
    };
    report
        .failure
        .iter_mut()
        .chain(report.warnings.iter_mut())
        .for_each(fill);
    for a in &mut report.attempts {
        a.failure
            .iter_mut()
            .chain(a.warnings.iter_mut())
            .for_each(fill);
    }
}

impl Prober {
    /// `oauth-token`: the grant at `https://{login}/{tenant}/oauth2/v2.0/token` over the
    /// project's TLS (interception detection included; through the proxy when one is set,
    /// as the HTTPS checks), then the token's diagnostics. One connection, one grant.
    pub async fn oauth_token(&self, spec: &MailboxSpec) -> OAuthTokenReport {
        let start = Instant::now();
        let client = spec.client();
        let path = client.token_path();
        let check = CheckSpec {
            id: CheckId::OauthToken,
            host: client.login_host.clone(),
            port: 443,
            dialog: Dialog::Https {
                path: path.clone(),
                expect: HttpExpect::AnyResponse,
            },
            invalid: None,
        };
        let mut report = new_report(&check);
        let mut oauth = OAuthInfo {
            mailbox: spec.address.clone(),
            grant: spec.grant.name().to_string(),
            requested_scopes: client.requested_scopes(&spec.grant),
            ..OAuthInfo::default()
        };
        let mut token = None;
        if let Some((kind, detail)) = spec.unusable() {
            report.failure = Some(self.finding_for(&check, kind, Stage::Token, detail));
        } else if let Some(Connected { tcp, mut run, .. }) =
            self.connect_first(&check, &mut report).await
        {
            let mut info = ProtocolInfo::default();
            let exchange = async {
                let tls = self.secure(&check, tcp, &[b"http/1.1"], &mut run).await?;
                let form = client.form(&spec.grant);
                let post = HttpPost {
                    host: &check.host,
                    port: check.port,
                    path: &path,
                    form: form.expose(),
                    max_bytes: self.settings().max_http_bytes,
                };
                let deadline = Instant::now() + self.settings().timeouts.protocol;
                let (status, body) = post_form(tls, post, deadline)
                    .await
                    .map_err(|e| (Stage::Token, e))?;
                info.http_status = Some(status);
                info.bytes_received = body.len() as u64;
                Ok::<_, (Stage, StageError)>(token::parse_answer(status, &body))
            };
            let result = match exchange.await {
                Err(e) => Err(e),
                Ok(Err(NoToken::Invalid(e))) => Err((Stage::Token, e)),
                Ok(Err(NoToken::Refused(r))) => {
                    oauth.error = r.error.clone();
                    oauth.aadsts = r.aadsts;
                    oauth.trace_id = r.trace_id.clone();
                    oauth.correlation_id = r.correlation_id.clone();
                    Err((Stage::Token, r.to_stage_error()))
                }
                Ok(Ok(grant)) => {
                    run.end(Stage::Token, true);
                    token = Some(grant);
                    Ok(())
                }
            };
            let mut attempt = self.finish(&check, run, info, result);
            if let Some(grant) = &token {
                let claims = claims::decode(&grant.access_token);
                let d = findings::diagnose(spec, grant, claims.as_ref());
                let mut failures = d.failures.into_iter();
                if let Some((kind, detail)) = failures.next() {
                    attempt.failure = Some(self.finding_for(&check, kind, Stage::Token, detail));
                }
                // Further failures travel as warnings: a report has one failure.
                for (kind, detail) in failures.chain(d.warnings) {
                    attempt
                        .warnings
                        .push(self.finding_for(&check, kind, Stage::Token, detail));
                }
                oauth.granted_scopes = grant.scopes.clone();
                oauth.expires_in_s = grant.expires_in;
                oauth.refresh_token_issued = Some(grant.refresh_token.is_some());
                oauth.claims = claims;
            }
            report.attempts.push(attempt);
            conclude_single(&mut report);
        }
        let user = oauth.claims.as_ref().and_then(|c| c.user.clone());
        fill_mailbox(&mut report, &spec.address, user.as_deref());
        report.oauth = Some(oauth);
        report.duration_us = micros(start);
        OAuthTokenReport { report, token }
    }

    /// `oauth-imap` / `oauth-pop3` / `oauth-smtp`: the usual greeting and capabilities
    /// (XOAUTH2 must be advertised), then the XOAUTH2 login for the mailbox and proof that
    /// the session reaches it. One connection; never sends mail.
    pub async fn oauth_login(
        &self,
        spec: &MailboxSpec,
        protocol: Protocol,
        access_token: &Secret,
    ) -> CheckReport {
        let start = Instant::now();
        let (host, port) = protocol.endpoint(&spec.hosts);
        let check = CheckSpec {
            id: protocol.check_id(),
            host,
            port,
            dialog: protocol.dialog(),
            invalid: None,
        };
        let mut report = new_report(&check);
        if let Some(c) = self.connect_first(&check, &mut report).await {
            let mut info = ProtocolInfo::default();
            let (mut run, channel) = self.mail_session(&check, c, &mut info).await;
            let result = match channel {
                Err(e) => Err(e),
                Ok((mut lines, helo)) => {
                    let before = info.bytes_received;
                    let caps = match protocol {
                        Protocol::Imap => mail::imap_capabilities(&mut lines, &mut info).await,
                        Protocol::Pop3 => mail::pop3_capabilities(&mut lines, &mut info).await,
                        Protocol::Smtp => {
                            mail::smtp_capabilities(&mut lines, &mut info, &helo).await
                        }
                    }
                    .and_then(|()| {
                        mail::require_xoauth2(&info, &protocol.as_str().to_ascii_uppercase())
                    });
                    let r = match caps {
                        Err(e) => Err((Stage::Protocol, e)),
                        Ok(()) => {
                            run.end(Stage::Protocol, true);
                            lines.set_deadline(Instant::now() + self.settings().timeouts.protocol);
                            let user = spec.address.as_str();
                            let login = match protocol {
                                Protocol::Imap => {
                                    let ir = info
                                        .capabilities
                                        .iter()
                                        .any(|c| c.eq_ignore_ascii_case("SASL-IR"));
                                    xoauth2::imap(&mut lines, user, access_token, ir).await
                                }
                                Protocol::Pop3 => {
                                    xoauth2::pop3(&mut lines, user, access_token).await
                                }
                                Protocol::Smtp => {
                                    xoauth2::smtp(&mut lines, user, access_token).await
                                }
                            };
                            login.map_err(|e| (Stage::Login, e))
                        }
                    };
                    info.bytes_received = before + lines.received();
                    if r.is_ok() {
                        run.end(Stage::Login, true);
                    }
                    r
                }
            };
            let attempt = self.finish(&check, run, info, result);
            report.attempts.push(attempt);
            conclude_single(&mut report);
        }
        let user = claims::decode(access_token).and_then(|c| c.user);
        fill_mailbox(&mut report, &spec.address, user.as_deref());
        report.oauth = Some(OAuthInfo {
            mailbox: spec.address.clone(),
            grant: spec.grant.name().to_string(),
            ..OAuthInfo::default()
        });
        report.duration_us = micros(start);
        report
    }

    /// The token, then a login per protocol of the spec (concurrently) when a token was
    /// granted, even one whose claims look wrong: the server's answer says more.
    pub async fn oauth_mailbox(&self, spec: &MailboxSpec) -> OAuthMailboxReport {
        let token = self.oauth_token(spec).await;
        let mut logins = Vec::new();
        if let Some(access) = token.token.as_ref().map(|t| t.access_token.clone()) {
            let mut set = JoinSet::new();
            for (i, protocol) in spec.protocols.iter().copied().enumerate() {
                let (prober, spec, access) = (self.clone(), spec.clone(), access.clone());
                set.spawn(async move { (i, prober.oauth_login(&spec, protocol, &access).await) });
            }
            let mut out: Vec<Option<CheckReport>> = vec![None; spec.protocols.len()];
            while let Some(joined) = set.join_next().await {
                match joined {
                    Ok((i, r)) => out[i] = Some(r),
                    Err(e) => tracing::error!(error = %e, "an OAuth login task failed"),
                }
            }
            logins = out.into_iter().flatten().collect();
        }
        OAuthMailboxReport { token, logins }
    }
}
