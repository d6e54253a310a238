//! What each HTTPS endpoint answers, as plain data so both hyper and the raw (trickling)
//! writer can serve it. Modelled on login.microsoftonline.com's real documents.

use serde_json::{json, Value};

use crate::config::{Endpoint, Fault, Hostnames};
use crate::oauth::{token, Authority};

/// The tenant id the lab reports for a tenant given by domain name.
pub const LAB_TENANT_ID: &str = "ec0e1ab0-0000-4000-8000-00000000e2e0";

/// One HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub location: Option<String>,
    pub body: String,
}

impl Reply {
    fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type,
            location: None,
            body: body.into(),
        }
    }

    pub(crate) fn json(status: u16, v: &Value) -> Reply {
        Reply::json_text(status, v.to_string())
    }

    /// A JSON body already serialised (to keep a documented key order).
    pub(crate) fn json_text(status: u16, body: String) -> Reply {
        Reply::new(status, "application/json; charset=utf-8", body)
    }

    pub(crate) fn too_large() -> Reply {
        Reply::new(
            413,
            "text/html; charset=utf-8",
            "<html><body>413 Request Entity Too Large</body></html>",
        )
    }

    fn not_found() -> Reply {
        Reply::new(
            404,
            "text/html; charset=utf-8",
            "<html><body>404 Not Found</body></html>",
        )
    }
}

/// One request as the router sees it.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The request body (bounded by the caller).
    pub body: &'a [u8],
}

pub(crate) fn route(
    ep: Endpoint,
    hosts: &Hostnames,
    fault: &Fault,
    auth: &Authority,
    req: &Request<'_>,
) -> Reply {
    let path = req.path;
    if let Fault::HttpStatus(code) = fault {
        return Reply::new(*code, "text/plain", format!("testlab: status {code}\n"));
    }
    match ep {
        Endpoint::Login => login(hosts, fault, auth, req),
        Endpoint::OutlookHttps if path == "/" => Reply {
            location: Some("https://outlook.office.com/owa/".into()),
            ..Reply::new(302, "text/html; charset=utf-8", "")
        },
        // The ECE External Application URL may carry a path (login page, context root):
        // any page of the lab's ECE web server answers.
        Endpoint::EceWeb => Reply::new(
            200,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><head><title>ECE</title></head><body>ECE</body></html>\n",
        ),
        _ => Reply::not_found(),
    }
}

fn login(hosts: &Hostnames, fault: &Fault, auth: &Authority, req: &Request<'_>) -> Reply {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let (tenant, rest) = match segments.as_slice() {
        [tenant, rest @ ..] => (*tenant, rest),
        [] => return Reply::not_found(),
    };
    let known = matches!(
        (req.method, rest),
        (
            "GET" | "HEAD",
            ["v2.0", ".well-known", "openid-configuration"]
        ) | ("POST", ["oauth2", "v2.0", "token" | "devicecode"])
    );
    if !known {
        return Reply::not_found();
    }
    if !valid_tenant(tenant) {
        return bad_tenant(hosts, auth, tenant);
    }
    match rest {
        ["oauth2", "v2.0", "token"] => token::token(hosts, auth, tenant, req.body),
        ["oauth2", "v2.0", "devicecode"] => token::devicecode(hosts, auth, tenant, req.body),
        _ => {
            let mut doc = openid_configuration(hosts, tenant);
            if *fault == Fault::NoTokenEndpoint {
                if let Some(obj) = doc.as_object_mut() {
                    obj.remove("token_endpoint");
                }
            }
            Reply::json(200, &doc)
        }
    }
}

/// `common`, `organizations`, `consumers`, a GUID or a domain: letters, digits, `-._`.
fn valid_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 256
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

fn is_guid(t: &str) -> bool {
    t.len() == 36
        && t.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn openid_configuration(hosts: &Hostnames, tenant: &str) -> Value {
    let login = &hosts.login;
    let base = format!("https://{login}/{tenant}");
    // Multi-tenant aliases publish a templated issuer; a real tenant publishes its id.
    let issuer_tenant = match tenant.to_ascii_lowercase().as_str() {
        "common" | "organizations" | "consumers" => "{tenantid}".to_string(),
        t if is_guid(t) => t.to_string(),
        _ => LAB_TENANT_ID.to_string(),
    };
    let cloud = login.strip_prefix("login.").unwrap_or(login);
    json!({
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported":
            ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("https://{login}/{issuer_tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
            "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
            "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/kerberos"),
        "tenant_region_scope": null,
        "cloud_instance_name": cloud,
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    })
}

fn bad_tenant(hosts: &Hostnames, auth: &Authority, tenant: &str) -> Reply {
    crate::oauth::wire::aad_error(
        hosts,
        auth,
        400,
        "invalid_tenant",
        None,
        90_002,
        &format!("AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(ep: Endpoint, fault: &Fault, method: &str, path: &str) -> Reply {
        let auth = Authority::new(None).unwrap_or_else(|e| panic!("{e}"));
        let req = Request {
            method,
            path,
            body: b"",
        };
        route(ep, &Hostnames::default(), fault, &auth, &req)
    }

    fn get(ep: Endpoint, fault: &Fault, path: &str) -> Reply {
        call(ep, fault, "GET", path)
    }

    fn body(r: &Reply) -> Value {
        serde_json::from_str(&r.body).unwrap_or(Value::Null)
    }

    #[test]
    fn openid_configuration_per_tenant() {
        let r = get(
            Endpoint::Login,
            &Fault::None,
            "/common/v2.0/.well-known/openid-configuration",
        );
        assert_eq!(r.status, 200);
        let v = body(&r);
        assert_eq!(
            v["token_endpoint"],
            "https://login.microsoftonline.com/common/oauth2/v2.0/token"
        );
        assert_eq!(
            v["issuer"],
            "https://login.microsoftonline.com/{tenantid}/v2.0"
        );
        let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let v = body(&get(
            Endpoint::Login,
            &Fault::None,
            &format!("/{guid}/v2.0/.well-known/openid-configuration"),
        ));
        assert_eq!(
            v["issuer"],
            format!("https://login.microsoftonline.com/{guid}/v2.0")
        );
        let r = get(
            Endpoint::Login,
            &Fault::NoTokenEndpoint,
            "/contoso.com/v2.0/.well-known/openid-configuration",
        );
        assert!(body(&r).get("token_endpoint").is_none());
        assert_eq!(get(Endpoint::Login, &Fault::None, "/").status, 404);
    }

    #[test]
    fn token_stub_and_others() {
        let r = call(
            Endpoint::Login,
            &Fault::None,
            "POST",
            "/organizations/oauth2/v2.0/token",
        );
        assert_eq!(r.status, 400);
        assert_eq!(body(&r)["error_codes"][0], 900_144);
        let r = call(
            Endpoint::Login,
            &Fault::None,
            "POST",
            "/bad%tenant/oauth2/v2.0/token",
        );
        assert_eq!(body(&r)["error_codes"][0], 90_002);
        assert_eq!(get(Endpoint::OutlookHttps, &Fault::None, "/").status, 302);
        assert_eq!(get(Endpoint::EceWeb, &Fault::None, "/").status, 200);
        assert_eq!(
            get(Endpoint::EceWeb, &Fault::HttpStatus(503), "/").status,
            503
        );
    }
}
