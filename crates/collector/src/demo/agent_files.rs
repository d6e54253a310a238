//! The files the demo writes for each agent: its `agent.toml` and its mailboxes' refresh tokens.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use eceprobe_agent::setup::toml_str;
use eceprobe_testlab::{Endpoint, OAuthConfig, Testlab};

use super::{DemoServer, DEPLOYMENT};

/// Writes `<agent id>.toml`: an ordinary agent configuration, pointed at testlab with
/// resolve overrides (the real host names stay, for SNI and certificate checks).
pub(super) fn write_agent_config(
    dir: &Path,
    server: &DemoServer,
    lab: &Testlab,
    lab_ca: &Path,
    collector: SocketAddr,
    tenant: &OAuthConfig,
) -> anyhow::Result<PathBuf> {
    let mut resolve = Vec::new();
    for ep in Endpoint::ALL {
        let addrs = lab.addrs(ep);
        // The firewalled server reaches IMAP and POP3 only through the blocked addresses.
        let pick = match (server.firewalled, ep) {
            (true, Endpoint::Imap | Endpoint::Pop3) => addrs.get(1),
            _ => addrs.first(),
        };
        let addr = pick.with_context(|| format!("testlab has no address for {}", ep.name()))?;
        let spec = format!("{}:{}:{addr}", ep.host(lab.hostnames()), ep.real_port());
        resolve.push(toml_str(&spec));
    }
    let ca = toml_str(&lab_ca.display().to_string());
    let spool = toml_str(
        &dir.join(format!("spool-{}", server.agent_id))
            .display()
            .to_string(),
    );
    let text = format!(
        "# eceprobe demo agent: the {role} server {id}.\n\
         role = \"{role}\"\n\
         ece_url = {ece}\n\
         resolve = [{resolve}]\n\n\
         [trust]\n\
         # testlab's CA stands in for Microsoft's roots.\n\
         os_store = false\n\
         ca_files = [{ca}]\n\
         expected_roots = [{ca}]\n\n\
         [ece]\n\
         # The lab's roots are in no Java trust store: judge as the host sees it.\n\
         ignore_java = true\n\n\
         [timeouts]\n\
         # A dropped port (the firewall's 995) costs this long; the real default is 5000.\n\
         tcp_ms = 3000\n\n\
         [run]\n\
         collector = \"http://{collector}\"\n\
         plaintext = true\n\
         agent_id = \"{id}\"\n\
         deployment = \"{DEPLOYMENT}\"\n\
         interval_s = 300\n\
         spool_dir = {spool}\n\
         ece_version = \"12.6(1)\"\n\
         ece_es = \"ES3\"\n",
        role = server.role,
        id = server.agent_id,
        ece = toml_str(&format!("https://{}/", lab.hostnames().ece)),
        resolve = resolve.join(", "),
    );
    let mut text = text;
    for mailbox in server.mailboxes {
        text.push_str(&mailbox_table(dir, server, mailbox, tenant)?);
    }
    let path = dir.join(format!("{}.toml", server.agent_id));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A `[[mailbox]]` table, its refresh token written beside the configuration as the agent
/// wants it (owner-only on Unix, DPAPI-protected on Windows).
fn mailbox_table(
    dir: &Path,
    server: &DemoServer,
    mailbox: &str,
    tenant: &OAuthConfig,
) -> anyhow::Result<String> {
    let account = tenant
        .accounts
        .iter()
        .find(|a| a.user == mailbox)
        .with_context(|| format!("the demo tenant has no account {mailbox}"))?;
    let local = mailbox.split('@').next().unwrap_or(mailbox);
    let file = dir.join(format!("{}-{local}.refresh", server.agent_id));
    let token = eceprobe_checks::Secret::new(&account.refresh_token);
    eceprobe_agent::secret_file::write_atomic(&file, &token)
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(format!(
        "\n[[mailbox]]\n\
         address = {address}\n\
         client_id = {client_id}\n\
         refresh_token_file = {file}\n\
         protocols = [\"imap\", \"smtp\"]\n",
        address = toml_str(mailbox),
        client_id = toml_str(&tenant.client_id),
        file = toml_str(&file.display().to_string()),
    ))
}
