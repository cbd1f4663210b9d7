//! notifier-top's kernel side: small programs on the mmu_interval_notifier paths that read
//! what the mirror needs and push one fixed-size [`notifier_common::Event`] per hit into a
//! ring buffer. Every hook exists twice, as fentry/fexit and as kprobe/kretprobe; userspace
//! loads whichever the running kernel allows (see notifier-user's `probe::plan`).
#![no_std]
#![no_main]
// The BPF target has no compare-and-swap, so core exposes no atomic read-modify-write; the
// one shared counter (maps::IN_CONTEXT) is bumped with the ISA's atomic add in asm.
#![feature(asm_experimental_arch)]

mod context;
mod emit;
mod filter;
mod kernel;
mod maps;
mod task;

mod bootstrap;
mod callback;
mod deferred;
mod hmm;
mod insert;
mod invalidate;
mod lifecycle;
mod read_side;
mod remove;
mod rules;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

// GPL: the programs call GPL-only helpers (bpf_probe_read_kernel on tracing programs).
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
