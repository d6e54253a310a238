//! Entra ID's token endpoint errors by AADSTS code: HTTP status, `error`, `suberror` and the
//! description text (placeholders `{app}`, `{tenant}`, `{user}`, `{date}` filled per request).

/// What Entra answers for one AADSTS code.
pub(crate) struct Info {
    pub status: u16,
    pub error: &'static str,
    pub suberror: Option<&'static str>,
    pub text: &'static str,
}

const fn e(status: u16, error: &'static str, text: &'static str) -> Info {
    Info {
        status,
        error,
        suberror: None,
        text,
    }
}

const fn sub(error: &'static str, suberror: &'static str, text: &'static str) -> Info {
    Info {
        status: 400,
        error,
        suberror: Some(suberror),
        text,
    }
}

pub(crate) fn info(code: u32) -> Info {
    match code {
        70008 => e(400, "invalid_grant", "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."),
        700082 => e(400, "invalid_grant", "The refresh token has expired due to inactivity. The token was issued on {date} and was inactive for 90.00:00:00."),
        50173 => e(400, "invalid_grant", "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '{date}' and the TokensValidFrom date (before which tokens are not valid) for this user is '{date}'."),
        70043 => e(400, "invalid_grant", "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on {date} and the maximum allowed lifetime for this request is 43200."),
        50011 => e(400, "invalid_request", "The redirect URI 'http://localhost' specified in the request does not match the redirect URIs configured for the application '{app}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."),
        7000215 => e(401, "invalid_client", "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app}'."),
        7000218 => e(401, "invalid_client", "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
        7000222 => e(401, "invalid_client", "The provided client secret keys for app '{app}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."),
        700016 => e(400, "unauthorized_client", "Application with identifier '{app}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
        700025 => e(401, "invalid_client", "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."),
        65001 => sub("invalid_grant", "consent_required", "The user or administrator has not consented to use the application with ID '{app}' named 'eceprobe lab'. Send an interactive authorization request for this user and resource."),
        90094 => sub("invalid_grant", "consent_required", "The grant requires admin permission."),
        50076 => sub("invalid_grant", "basic_action", "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000002-0000-0ff1-ce00-000000000000'."),
        50079 => sub("invalid_grant", "basic_action", "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access '00000002-0000-0ff1-ce00-000000000000'."),
        50126 => e(400, "invalid_grant", "Error validating credentials due to invalid username or password."),
        53003 => e(400, "invalid_grant", "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."),
        530035 => e(400, "invalid_grant", "Access has been blocked by security defaults. This is due to the request using legacy auth or being deemed unsafe by security defaults policies."),
        50020 => e(400, "invalid_grant", "User account '{user}' from identity provider 'live.com' does not exist in tenant '{tenant}' and cannot access the application '{app}'(eceprobe lab) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account."),
        50034 => e(400, "invalid_grant", "The user account {user} does not exist in the {tenant} directory. To sign into this application, the account must be added to the directory."),
        90002 => e(400, "invalid_tenant", "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
        90038 => e(400, "invalid_request", "NationalCloudTenantRedirection: The specified tenant '{tenant}' belongs to another cloud. Current cloud instance 'microsoftonline.com'. Cloud instance of the tenant 'microsoftonline.us'."),
        70011 => e(400, "invalid_scope", "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
        28002 => e(400, "invalid_scope", "Provided value for the input parameter scope '{scope}' is not valid when requesting an access token. Specify a valid scope."),
        28000 => e(400, "invalid_scope", "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."),
        81012 => e(400, "invalid_grant", "The user trying to sign in to Azure AD is different from the user signed into the device."),
        9002313 => e(400, "invalid_grant", "Invalid request. Request is malformed or invalid."),
        900144 => e(400, "invalid_request", "The request body must contain the following parameter: '{param}'."),
        70003 => e(400, "unsupported_grant_type", "The app requested an unsupported grant type '{param}'."),
        1002012 => e(400, "invalid_scope", "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        500011 => e(400, "invalid_resource", "The resource principal named {scope} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."),
        70019 => e(400, "expired_token", "Verification code expired."),
        70016 => e(400, "authorization_pending", "OAuth 2.0 device flow error. Authorization is pending. Continue polling."),
        _ => e(400, "invalid_request", "The request could not be completed."),
    }
}

/// Values for the description's placeholders.
#[derive(Default)]
pub(crate) struct Fill<'a> {
    pub app: &'a str,
    pub tenant: &'a str,
    pub user: &'a str,
    pub date: &'a str,
    pub scope: &'a str,
    pub param: &'a str,
}

/// `AADSTS<code>: <text>` with the placeholders filled.
pub(crate) fn describe(code: u32, text: &str, f: &Fill<'_>) -> String {
    let text = text
        .replace("{app}", f.app)
        .replace("{tenant}", f.tenant)
        .replace("{user}", f.user)
        .replace("{date}", f.date)
        .replace("{scope}", f.scope)
        .replace("{param}", f.param);
    format!("AADSTS{code}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_by_kind() {
        for code in [7000215, 7000218, 7000222, 700025] {
            assert_eq!(
                (info(code).status, info(code).error),
                (401, "invalid_client")
            );
        }
        assert_eq!(info(700016).error, "unauthorized_client");
        assert_eq!(info(65001).suberror, Some("consent_required"));
        let d = describe(
            900144,
            info(900144).text,
            &Fill {
                param: "grant_type",
                ..Fill::default()
            },
        );
        assert_eq!(
            d,
            "AADSTS900144: The request body must contain the following parameter: 'grant_type'."
        );
    }
}
