//! Which TCP connections are still established, read from `/proc/net/tcp` and
//! `/proc/net/tcp6` (Linux). mail-launch asks only when a client reaches its per-IP limit,
//! so a client that already hung up (its child still finishing) does not hold a slot.
//! Without /proc the answer is `None` and every child counts, as tcpserver does.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// (local, remote) pairs in state ESTABLISHED.
pub type Established = HashSet<(SocketAddr, SocketAddr)>;

/// Reads both tables; `None` if neither can be read.
pub fn established() -> Option<Established> {
    let mut set = Established::new();
    let mut any = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            any = true;
            set.extend(parse_table(&text));
        }
    }
    any.then_some(set)
}

/// Parses one table's text.
pub fn parse_table(text: &str) -> impl Iterator<Item = (SocketAddr, SocketAddr)> + '_ {
    text.lines().skip(1).filter_map(|line| {
        let mut f = line.split_whitespace();
        let (_sl, local, remote, state) = (f.next()?, f.next()?, f.next()?, f.next()?);
        (state == "01").then_some(())?;
        Some((parse_addr(local)?, parse_addr(remote)?))
    })
}

/// `0100007F:0019` or 32 hex digits `:port`; the kernel prints each 32-bit word of the
/// address in host byte order, the port as a number.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for i in (0..ip.len()).step_by(8) {
        let word = u32::from_str_radix(ip.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn sees_a_live_connection_and_its_end() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let pair = (s.local_addr().unwrap(), s.peer_addr().unwrap());
        let Some(live) = established() else {
            return; // no /proc here
        };
        assert!(live.contains(&pair), "{pair:?}");
        drop(c); // the client hangs up: the server side is CLOSE_WAIT now
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!established().unwrap().contains(&pair));
    }

    #[test]
    fn parses_v6_rows_and_skips_other_states() {
        let text = "  sl  local_address                         remote_address                        st\n\
   0: 00000000000000000000000001000000:0019 00000000000000000000000001000000:A000 01 0\n\
   1: 0100007F:0019 0100007F:A001 08 0\n";
        let rows: Vec<_> = parse_table(text).collect();
        assert_eq!(rows.len(), 1);
        if cfg!(target_endian = "little") {
            assert_eq!(rows[0].0, "[::1]:25".parse().unwrap());
            assert_eq!(rows[0].1.port(), 0xA000);
        }
    }
}
