//! Field offsets of classic tracepoint records, read from their tracefs `format` files
//! (the record layout is the kernel's own business and changes between versions).

use std::{fs, path::PathBuf};

use anyhow::{Context as _, Result, bail};
use notifier_common::{FieldOffset, MISSING};

const ROOTS: &[&str] = &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The tracefs mount, or an error telling how to mount it.
pub fn root() -> Result<PathBuf> {
    ROOTS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
        .with_context(|| {
            "tracefs is not mounted (needed for the kmem tracepoints): \
             mount -t tracefs tracefs /sys/kernel/tracing"
                .to_owned()
        })
}

/// Offset of `field` in the records of tracepoint `category/name`, or MISSING.
pub fn field_offset(category: &str, name: &str, field: &str) -> Result<FieldOffset> {
    let path = root()?
        .join("events")
        .join(category)
        .join(name)
        .join("format");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_offset(&text, field)
}

/// Finds `field:<type> <field>;\toffset:N;` in a format file.
pub fn parse_offset(format: &str, field: &str) -> Result<FieldOffset> {
    for line in format.lines() {
        let Some(decl) = line.trim().strip_prefix("field:") else {
            continue;
        };
        let Some((decl, rest)) = decl.split_once(';') else {
            continue;
        };
        let name = decl.rsplit([' ', '*']).next().unwrap_or_default();
        if name != field {
            continue;
        }
        let Some(off) = rest
            .split(';')
            .find_map(|kv| kv.trim().strip_prefix("offset:"))
        else {
            bail!("format line for {field} has no offset: {line}");
        };
        return off
            .trim()
            .parse()
            .with_context(|| format!("bad offset in: {line}"));
    }
    Ok(MISSING)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KMALLOC: &str = "name: kmalloc
ID: 452
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;

\tfield:unsigned long call_site;\toffset:8;\tsize:8;\tsigned:0;
\tfield:const void * ptr;\toffset:16;\tsize:8;\tsigned:0;
\tfield:size_t bytes_req;\toffset:24;\tsize:8;\tsigned:0;
\tfield:unsigned long gfp_flags;\toffset:40;\tsize:8;\tsigned:0;
";

    #[test]
    fn finds_fields_by_exact_name() {
        assert_eq!(parse_offset(KMALLOC, "gfp_flags").unwrap(), 40);
        assert_eq!(parse_offset(KMALLOC, "call_site").unwrap(), 8);
        assert_eq!(parse_offset(KMALLOC, "ptr").unwrap(), 16);
        assert_eq!(parse_offset(KMALLOC, "bytes").unwrap(), MISSING);
    }
}
