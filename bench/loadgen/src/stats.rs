//! Percentiles, CPU and memory readings (of the server under test through
//! /proc, of the generator itself through getrusage), and the JSON line.
use std::fmt::Write as _;
use std::time::Duration;

/// Latency samples in nanoseconds; percentiles by sorting at the end.
#[derive(Default)]
pub struct Samples(Vec<u64>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_nanos().min(u64::MAX as u128) as u64);
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// (p50, p90, p99, p99.9, max) in microseconds; None without samples.
    pub fn summary(&mut self) -> Option<[f64; 5]> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let at = |q: f64| {
            let i = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len()) - 1;
            self.0[i] as f64 / 1e3
        };
        Some([at(0.5), at(0.9), at(0.99), at(0.999), at(1.0)])
    }
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// user + system CPU seconds of a process, all its threads included.
pub fn proc_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clk_tck())
}

/// System (kernel) CPU seconds of a process, all its threads included:
/// on loopback a send's whole TCP path, the receiver's side too, is in it.
pub fn proc_sys_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(12)?.parse::<u64>().ok()? as f64 / clk_tck())
}

/// Page faults of a process so far (minor + major, all its threads).
pub fn proc_faults(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // minflt and majflt are the 10th and 12th fields of the whole line.
    Some(f.get(7)?.parse::<u64>().ok()? + f.get(9)?.parse::<u64>().ok()?)
}

/// Resident set size of a process in bytes.
pub fn proc_rss(pid: u32) -> Option<u64> {
    proc_status_bytes(pid, "VmRSS:")
}

/// The anonymous part of a process's resident memory (its heaps and
/// mappings, without the pages of its executable and libraries, which a
/// runtime pages in once as it first runs their code).
pub fn proc_rss_anon(pid: u32) -> Option<u64> {
    proc_status_bytes(pid, "RssAnon:")
}

fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// (busy, total) jiffies of each core from /proc/stat.
pub fn core_times() -> Vec<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal ...
            let total: u64 = v.iter().take(8).sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// CPU seconds this process has used so far.
pub fn self_cpu() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Raises the soft open-files limit to the hard one (idle mode needs one
/// descriptor per connection).
pub fn raise_nofile() -> u64 {
    // SAFETY: plain get/setrlimit on a struct we own.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        r.rlim_cur as u64
    }
}

/// A flat JSON object written in insertion order.
#[derive(Default)]
pub struct Json(String);

impl Json {
    fn key(&mut self, k: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        let _ = write!(self.0, "\"{k}\":");
    }
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        self.0.push('"');
        for c in v.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", c as u32);
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
        self
    }
    pub fn num(&mut self, k: &str, v: f64) -> &mut Self {
        self.key(k);
        if v.is_finite() {
            if v.fract() == 0.0 && v.abs() < 1e15 {
                let _ = write!(self.0, "{v:.0}");
            } else {
                let _ = write!(self.0, "{v:.3}");
            }
        } else {
            self.0.push_str("null");
        }
        self
    }
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.0.push_str(if v { "true" } else { "false" });
        self
    }
    pub fn opt(&mut self, k: &str, v: Option<f64>) -> &mut Self {
        match v {
            Some(v) => self.num(k, v),
            None => {
                self.key(k);
                self.0.push_str("null");
                self
            }
        }
    }
    pub fn finish(&self) -> String {
        format!("{}}}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut s = Samples::default();
        assert!(s.summary().is_none());
        for us in (1..=1000).rev() {
            s.push(Duration::from_micros(us));
        }
        assert_eq!(s.summary().unwrap(), [500.0, 900.0, 990.0, 999.0, 1000.0]);
    }

    #[test]
    fn json_line() {
        let mut j = Json::default();
        j.str("mode", "e\"cho\n")
            .num("n", 3.0)
            .num("r", 1.5)
            .opt("x", None);
        assert_eq!(
            j.finish(),
            r#"{"mode":"e\"cho\u000a","n":3,"r":1.500,"x":null}"#
        );
    }

    #[test]
    fn own_process_readings() {
        let pid = std::process::id();
        assert!(proc_cpu(pid).is_some());
        assert!(proc_faults(pid).unwrap() > 0);
        assert!(proc_rss(pid).unwrap() > 0);
        assert!(self_cpu() >= 0.0);
    }
}
