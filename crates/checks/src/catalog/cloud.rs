//! Where a check runs and against which cloud: the server's role and the cloud's host names.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::HostKind;

/// The role of the ECE server the probe runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Services,
    Application,
    #[default]
    Both,
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "services" => Ok(Role::Services),
            "application" => Ok(Role::Application),
            "both" => Ok(Role::Both),
            _ => Err(format!(
                "unknown role '{s}' (use services, application or both)"
            )),
        }
    }
}

/// A Microsoft cloud, each with its own host names (M365-FACTS.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    #[default]
    Global,
    GccHigh,
    Dod,
    China,
}

impl FromStr for Cloud {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "global" => Ok(Cloud::Global),
            "gcc-high" => Ok(Cloud::GccHigh),
            "dod" => Ok(Cloud::Dod),
            "china" => Ok(Cloud::China),
            _ => Err(format!(
                "unknown cloud '{s}' (use global, gcc-high, dod or china)"
            )),
        }
    }
}

/// The host names of a cloud. Operators can override each one in the configuration, since
/// the sovereign mail host names come from third-party sources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudHosts {
    pub login: String,
    pub outlook: String,
    pub smtp: String,
}

impl Cloud {
    pub fn hosts(self) -> CloudHosts {
        let (login, outlook, smtp) = match self {
            Cloud::Global => (
                "login.microsoftonline.com",
                "outlook.office365.com",
                "smtp.office365.com",
            ),
            Cloud::GccHigh => (
                "login.microsoftonline.us",
                "outlook.office365.us",
                "smtp.office365.us",
            ),
            Cloud::Dod => (
                "login.microsoftonline.us",
                "outlook-dod.office365.us",
                "outlook-dod.office365.us",
            ),
            Cloud::China => (
                "login.partner.microsoftonline.cn",
                "partner.outlook.cn",
                "smtp.partner.outlook.cn",
            ),
        };
        CloudHosts {
            login: login.into(),
            outlook: outlook.into(),
            smtp: smtp.into(),
        }
    }
}

impl CloudHosts {
    /// The cloud's host of this kind; None for the ECE URL's host (the configuration's) and
    /// for checks without a host.
    pub fn host(&self, kind: HostKind) -> Option<&str> {
        match kind {
            HostKind::Login => Some(&self.login),
            HostKind::Outlook => Some(&self.outlook),
            HostKind::Smtp => Some(&self.smtp),
            HostKind::EceUrl | HostKind::None => None,
        }
    }
}
