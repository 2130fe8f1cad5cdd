//! `mailctl check-auth --ip IP [--helo NAME] [--from ADDRESS] FILE|-`: runs the SPF, DKIM
//! and DMARC checks spam-scan runs (`authres`) on a message file as if `IP` had sent it,
//! and prints the `Authentication-Results` field on one line, then `score=` and, when the
//! domain's policy asks for it, `dmarc=reject`. For admins debugging a sender's records.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::PathBuf;

use super::Error;
use crate::authres;
use crate::config::Config;
use crate::spool::Envelope;

#[derive(Debug, clap::Args)]
pub struct CheckAuthArgs {
    /// The client IP the message came from.
    #[arg(long)]
    ip: IpAddr,
    /// The client's HELO/EHLO name.
    #[arg(long, default_value = "")]
    helo: String,
    /// The envelope sender (MAIL FROM); empty for the null sender.
    #[arg(long, default_value = "")]
    from: String,
    /// The message (RFC 5322, headers first); `-` for stdin.
    file: PathBuf,
}

/// Largest message read (the check needs the whole message for DKIM body hashes).
const MAX_MESSAGE: u64 = 64 << 20;

pub fn run(cfg: &Config, args: CheckAuthArgs, out: &mut dyn Write) -> Result<(), Error> {
    let message = read(&args.file)?;
    let env = Envelope {
        sender: args.from,
        client_ip: Some(args.ip.to_string()),
        client_helo: Some(args.helo),
        ..Envelope::default()
    };
    let v = authres::verify(cfg, &env, &message);
    let line = v.header.trim_end().replace("\r\n\t", " ");
    let mut text = format!("{line}\nscore={}\n", v.score);
    if v.dmarc_reject {
        text.push_str("dmarc=reject\n");
    }
    out.write_all(text.as_bytes())
        .map_err(|e| Error::System(format!("stdout: {e}")))
}

fn read(path: &PathBuf) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    let r = if path.as_os_str() == "-" {
        std::io::stdin().take(MAX_MESSAGE).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_MESSAGE).read_to_end(&mut buf))
    };
    r.map_err(super::io_err(path))?;
    Ok(buf)
}
