//! The kernel side of AF_XDP: the filter program that steers our UDP to the
//! AF_XDP sockets, the `XSKMAP` that holds one socket per receive queue, and the
//! link that attaches the program to an interface.
//!
//! The program is assembled here, instruction by instruction, from a list of
//! [`Rule`]s (destination address and port range), and loaded with `bpf(2)`: no
//! ELF object, no C toolchain, no loader library. It redirects to the queue's
//! socket only UDP over IPv4 (no options, not a fragment) or IPv6 (UDP as the
//! first next header) whose destination matches a rule; every other frame
//! (ARP, neighbour discovery, ICMP, TCP, VLAN-tagged, other ports) is passed to
//! the kernel. `bpf_redirect_map(map, queue, XDP_PASS)` also passes a frame
//! whose queue has no socket in the map, so the kernel's own sockets answer
//! it.
//!
//! The program stays attached only as long as its [`Link`] is open: dropping
//! the link, or the process ending in any way, detaches it (a BPF link, not
//! the netlink attachment that outlives its process).

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

// bpf(2) commands, map and program types (linux/bpf.h).
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// `XDP_PASS`: hand the frame to the kernel's stack.
pub const XDP_PASS: u32 = 2;
/// `XDP_REDIRECT`: the frame went to the AF_XDP socket in the map.
pub const XDP_REDIRECT: u32 = 4;

// Instruction encoding (linux/bpf_common.h, linux/bpf.h).
const LDX: u8 = 0x01;
const ALU: u8 = 0x04;
const JMP: u8 = 0x05;
const JMP32: u8 = 0x06;
const ALU64: u8 = 0x07;
const LD_IMM64: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW
const MEM: u8 = 0x60;
const SIZE_W: u8 = 0x00;
const SIZE_H: u8 = 0x08;
const SIZE_B: u8 = 0x10;
const SRC_K: u8 = 0x00;
const SRC_X: u8 = 0x08;
const OP_ADD: u8 = 0x00;
const OP_AND: u8 = 0x50;
const OP_MOV: u8 = 0xb0;
const OP_END: u8 = 0xd0;
const TO_BE: u8 = 0x08;
const OP_JA: u8 = 0x00;
const OP_JNE: u8 = 0x50;
const OP_JEQ: u8 = 0x10;
const OP_JGT: u8 = 0x20;
const OP_JLT: u8 = 0xa0;
const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;
const PSEUDO_MAP_FD: u8 = 1;
const HELPER_REDIRECT_MAP: i32 = 51;

// Frame offsets the program reads: Ethernet (14), IPv4 without options (20)
// or IPv6 (40), UDP (8).
const ETHERTYPE: i16 = 12;
const V4_VERSION_IHL: i16 = 14;
const V4_FRAGMENT: i16 = 20;
const V4_PROTOCOL: i16 = 23;
const V4_DESTINATION: i16 = 30;
const V4_PORT: i16 = 36;
const V4_END: i32 = 42;
const V6_NEXT_HEADER: i16 = 20;
const V6_DESTINATION: i16 = 38;
const V6_PORT: i16 = 56;
const V6_END: i32 = 62;

/// Which UDP datagrams the filter redirects: those to `destination` (any
/// address of the family when it is unspecified) on a port in `ports`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The destination address; `0.0.0.0` or `::` match any address of that
    /// family.
    pub destination: IpAddr,
    /// The destination ports.
    pub ports: RangeInclusive<u16>,
}

impl Rule {
    /// The rule for a UDP listen address: its address (any, when wildcard) and
    /// its one port.
    pub fn listen(address: SocketAddr) -> Rule {
        Rule {
            destination: address.ip(),
            ports: address.port()..=address.port(),
        }
    }
}

/// One eBPF instruction, as the kernel reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Insn {
    code: u8,
    /// Destination register in the low nibble, source in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

/// A position in the program that jumps refer to before it is known.
#[derive(Clone, Copy, Debug)]
struct Label(usize);

/// A small assembler: instructions, label positions and jumps to patch.
#[derive(Default)]
struct Assembler {
    code: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
}

impl Assembler {
    fn emit(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.code.push(Insn {
            code,
            regs: dst | (src << 4),
            off,
            imm,
        });
    }

    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.code.len());
    }

    /// `dst = *(size *)(src + off)`
    fn load(&mut self, size: u8, dst: u8, src: u8, off: i16) {
        self.emit(LDX | MEM | size, dst, src, off, 0);
    }

    /// A conditional jump on 64-bit `dst` against register `src`.
    fn jump_reg(&mut self, op: u8, dst: u8, src: u8, target: Label) {
        self.fixups.push((self.code.len(), target));
        self.emit(JMP | op | SRC_X, dst, src, 0, 0);
    }

    /// A conditional jump on the low 32 bits of `dst` against `imm`.
    fn jump32(&mut self, op: u8, dst: u8, imm: i32, target: Label) {
        self.fixups.push((self.code.len(), target));
        self.emit(JMP32 | op | SRC_K, dst, 0, 0, imm);
    }

    fn goto(&mut self, target: Label) {
        self.fixups.push((self.code.len(), target));
        self.emit(JMP | OP_JA, 0, 0, 0, 0);
    }

    fn finish(mut self) -> Vec<Insn> {
        for &(at, label) in &self.fixups {
            let target = self.labels[label.0].expect("every label is bound");
            let offset = target as isize - (at as isize + 1);
            self.code[at].off = i16::try_from(offset).expect("the program is short");
        }
        self.code
    }
}

// Registers.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R7: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;

/// The value a 16-bit load of these frame bytes leaves in a register.
fn raw16(bytes: [u8; 2]) -> i32 {
    i32::from(u16::from_ne_bytes(bytes))
}

/// The value a 32-bit load of these frame bytes leaves in a register (as
/// the bits of an `i32` immediate).
fn raw32(bytes: [u8; 4]) -> i32 {
    i32::from_ne_bytes(bytes)
}

/// Jumps to `next` unless the byte-swapped port in r8 is in `ports`.
fn match_ports(asm: &mut Assembler, ports: &RangeInclusive<u16>, next: Label) {
    if ports.start() == ports.end() {
        asm.jump32(OP_JNE, R8, i32::from(*ports.start()), next);
    } else {
        asm.jump32(OP_JLT, R8, i32::from(*ports.start()), next);
        asm.jump32(OP_JGT, R8, i32::from(*ports.end()), next);
    }
}

/// The filter program for `rules`, redirecting through the map with
/// descriptor `map` (or 0 when only counting instructions).
fn assemble(rules: &[Rule], map: RawFd) -> Vec<Insn> {
    let mut asm = Assembler::default();
    let pass = asm.label();
    let redirect = asm.label();
    let v4 = asm.label();
    let v6 = asm.label();
    // r1 = struct xdp_md *: data at 0, data_end at 4, rx_queue_index at 16.
    asm.load(SIZE_W, R9, R1, 16);
    asm.load(SIZE_W, R2, R1, 0);
    asm.load(SIZE_W, R3, R1, 4);
    asm.emit(ALU64 | OP_MOV | SRC_X, R4, R2, 0, 0);
    asm.emit(ALU64 | OP_ADD | SRC_K, R4, 0, 0, V4_END);
    asm.jump_reg(OP_JGT, R4, R3, pass);
    asm.load(SIZE_H, R5, R2, ETHERTYPE);
    asm.jump32(OP_JEQ, R5, raw16([0x08, 0x00]), v4);
    asm.jump32(OP_JEQ, R5, raw16([0x86, 0xdd]), v6);
    asm.goto(pass);

    // IPv4: version 4 with a 20-byte header, no fragment bits, UDP.
    asm.bind(v4);
    asm.load(SIZE_B, R5, R2, V4_VERSION_IHL);
    asm.jump32(OP_JNE, R5, 0x45, pass);
    asm.load(SIZE_H, R5, R2, V4_FRAGMENT);
    asm.emit(ALU | OP_AND | SRC_K, R5, 0, 0, raw16([0x3f, 0xff]));
    asm.jump32(OP_JNE, R5, 0, pass);
    asm.load(SIZE_B, R5, R2, V4_PROTOCOL);
    asm.jump32(OP_JNE, R5, i32::from(libc::IPPROTO_UDP as u8), pass);
    asm.load(SIZE_H, R8, R2, V4_PORT);
    asm.emit(ALU | OP_END | TO_BE, R8, 0, 0, 16);
    asm.load(SIZE_W, R7, R2, V4_DESTINATION);
    for rule in rules {
        let IpAddr::V4(address) = rule.destination else {
            continue;
        };
        let next = asm.label();
        if address != Ipv4Addr::UNSPECIFIED {
            asm.jump32(OP_JNE, R7, raw32(address.octets()), next);
        }
        match_ports(&mut asm, &rule.ports, next);
        asm.goto(redirect);
        asm.bind(next);
    }
    asm.goto(pass);

    // IPv6: UDP directly after the fixed header.
    asm.bind(v6);
    asm.emit(ALU64 | OP_MOV | SRC_X, R4, R2, 0, 0);
    asm.emit(ALU64 | OP_ADD | SRC_K, R4, 0, 0, V6_END);
    asm.jump_reg(OP_JGT, R4, R3, pass);
    asm.load(SIZE_B, R5, R2, V6_NEXT_HEADER);
    asm.jump32(OP_JNE, R5, i32::from(libc::IPPROTO_UDP as u8), pass);
    asm.load(SIZE_H, R8, R2, V6_PORT);
    asm.emit(ALU | OP_END | TO_BE, R8, 0, 0, 16);
    for rule in rules {
        let IpAddr::V6(address) = rule.destination else {
            continue;
        };
        let next = asm.label();
        if address != Ipv6Addr::UNSPECIFIED {
            let octets = address.octets();
            for (index, word) in octets.chunks_exact(4).enumerate() {
                let word: [u8; 4] = word.try_into().expect("chunks of four");
                asm.load(SIZE_W, R7, R2, V6_DESTINATION + 4 * index as i16);
                asm.jump32(OP_JNE, R7, raw32(word), next);
            }
        }
        match_ports(&mut asm, &rule.ports, next);
        asm.goto(redirect);
        asm.bind(next);
    }
    asm.goto(pass);

    // return bpf_redirect_map(&xsks, rx_queue_index, XDP_PASS)
    asm.bind(redirect);
    asm.emit(LD_IMM64, R1, PSEUDO_MAP_FD, 0, map);
    asm.emit(0, 0, 0, 0, 0);
    asm.emit(ALU64 | OP_MOV | SRC_X, R2, R9, 0, 0);
    asm.emit(ALU64 | OP_MOV | SRC_K, R3, 0, 0, XDP_PASS as i32);
    asm.emit(JMP | OP_CALL, 0, 0, 0, HELPER_REDIRECT_MAP);
    asm.emit(JMP | OP_EXIT, 0, 0, 0, 0);

    asm.bind(pass);
    asm.emit(ALU64 | OP_MOV | SRC_K, R0, 0, 0, XDP_PASS as i32);
    asm.emit(JMP | OP_EXIT, 0, 0, 0, 0);
    asm.finish()
}

/// Calls `bpf(cmd, attr, size_of(attr))`; returns the non-negative result.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` attribute
    // struct of the layout the kernel defines for `cmd` (its leading fields),
    // and its size is passed with it; any pointers inside point to buffers
    // that outlive this call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_mut(attr).cast::<libc::c_void>(),
            std::mem::size_of::<T>(),
        )
    };
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// A descriptor returned by `bpf(2)`, owned.
fn owned(result: libc::c_long) -> OwnedFd {
    let fd = RawFd::try_from(result).expect("descriptors fit a c_int");
    // SAFETY: the kernel just returned `fd` as a new descriptor that nothing
    // else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[repr(C)]
#[derive(Default)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapElem {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreate {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct TestRun {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
}

fn name16(name: &str) -> [u8; 16] {
    let mut out = [0; 16];
    let len = name.len().min(15);
    out[..len].copy_from_slice(&name.as_bytes()[..len]);
    out
}

/// How the program is attached to the interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (native XDP).
    Driver,
    /// In the generic path, after the kernel has built its socket buffer
    /// (any interface; slower).
    Generic,
}

/// The filter program, loaded, with its map of AF_XDP sockets per queue.
pub struct Program {
    program: OwnedFd,
    map: OwnedFd,
    queues: u32,
    instructions: usize,
}

impl fmt::Debug for Program {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Program")
            .field("program", &self.program.as_raw_fd())
            .field("queues", &self.queues)
            .field("instructions", &self.instructions)
            .finish()
    }
}

impl Program {
    /// Creates an `XSKMAP` for `queues` receive queues and loads the filter
    /// for `rules` into the kernel. Fails with `EPERM` without
    /// `CAP_BPF`/`CAP_NET_ADMIN` (or root); a verifier rejection comes back as
    /// `InvalidInput` with the verifier's last lines.
    pub fn load(rules: &[Rule], queues: u32) -> io::Result<Program> {
        let mut create = MapCreate {
            map_type: BPF_MAP_TYPE_XSKMAP,
            key_size: 4,
            value_size: 4,
            max_entries: queues.max(1),
            map_name: name16("dnslb_xsks"),
            ..MapCreate::default()
        };
        let map = owned(bpf(BPF_MAP_CREATE, &mut create)?);
        let code = assemble(rules, map.as_raw_fd());
        let license = c"GPL";
        let mut load = ProgLoad {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: u32::try_from(code.len()).expect("the program is short"),
            insns: code.as_ptr() as u64,
            license: license.as_ptr() as u64,
            prog_name: name16("dnslb_filter"),
            expected_attach_type: BPF_XDP,
            ..ProgLoad::default()
        };
        let program = match bpf(BPF_PROG_LOAD, &mut load) {
            Ok(fd) => owned(fd),
            Err(error) if matches!(error.raw_os_error(), Some(libc::EINVAL | libc::EACCES)) => {
                // Load again with the verifier's log, to say why.
                let mut log = vec![0u8; 1 << 16];
                load.log_level = 1;
                load.log_size = u32::try_from(log.len()).expect("64 KiB");
                load.log_buf = log.as_mut_ptr() as u64;
                let retry = bpf(BPF_PROG_LOAD, &mut load);
                let text = CStr::from_bytes_until_nul(&log)
                    .map(|text| text.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(4).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return match retry {
                    Ok(fd) => {
                        drop(owned(fd));
                        Err(error)
                    }
                    Err(_) => Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "the verifier rejected the filter ({error}): {}",
                            tail.join(" | ")
                        ),
                    )),
                };
            }
            Err(error) => return Err(error),
        };
        Ok(Program {
            program,
            map,
            queues: queues.max(1),
            instructions: code.len(),
        })
    }

    /// Puts the AF_XDP socket `socket` in the map for receive queue `queue`:
    /// from now on the filter's frames on that queue go to it.
    pub fn register(&self, queue: u32, socket: &impl AsRawFd) -> io::Result<()> {
        let value = u32::try_from(socket.as_raw_fd()).expect("descriptors are positive");
        let mut update = MapElem {
            map_fd: self.map_fd(),
            key: std::ptr::from_ref(&queue) as u64,
            value: std::ptr::from_ref(&value) as u64,
            ..MapElem::default()
        };
        bpf(BPF_MAP_UPDATE_ELEM, &mut update).map(drop)
    }

    /// Takes queue `queue`'s socket out of the map: its frames go to the
    /// kernel again.
    pub fn unregister(&self, queue: u32) -> io::Result<()> {
        let mut delete = MapElem {
            map_fd: self.map_fd(),
            key: std::ptr::from_ref(&queue) as u64,
            ..MapElem::default()
        };
        bpf(BPF_MAP_DELETE_ELEM, &mut delete).map(drop)
    }

    fn map_fd(&self) -> u32 {
        u32::try_from(self.map.as_raw_fd()).expect("descriptors are positive")
    }

    /// How many instructions the program has.
    pub fn instructions(&self) -> usize {
        self.instructions
    }

    /// Attaches the program to interface `ifindex` through a BPF link, in the
    /// driver when `mode` is [`AttachMode::Driver`]. The program stays
    /// attached until the link is dropped or the process ends. Fails with
    /// `EBUSY` when another program is attached, and on veth with `ENOSPC`
    /// (the peer has more transmit queues than this side has receive queues)
    /// or `ERANGE` (the MTU is too large for XDP).
    pub fn attach(&self, ifindex: u32, mode: AttachMode) -> io::Result<Link> {
        let mut create = LinkCreate {
            prog_fd: u32::try_from(self.program.as_raw_fd()).expect("descriptors are positive"),
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags: match mode {
                AttachMode::Driver => XDP_FLAGS_DRV_MODE,
                AttachMode::Generic => XDP_FLAGS_SKB_MODE,
            },
        };
        let link = owned(bpf(BPF_LINK_CREATE, &mut create)?);
        Ok(Link {
            link,
            ifindex,
            mode,
        })
    }

    /// Runs the program once on `frame` (`BPF_PROG_TEST_RUN`, as received on
    /// queue 0 of the loopback interface) and returns its verdict:
    /// [`XDP_REDIRECT`] or [`XDP_PASS`].
    pub fn test_run(&self, frame: &[u8]) -> io::Result<u32> {
        let mut out = vec![0u8; frame.len() + 512];
        let mut run = TestRun {
            prog_fd: u32::try_from(self.program.as_raw_fd()).expect("descriptors are positive"),
            data_size_in: u32::try_from(frame.len()).expect("a frame"),
            data_size_out: u32::try_from(out.len()).expect("a frame"),
            data_in: frame.as_ptr() as u64,
            data_out: out.as_mut_ptr() as u64,
            repeat: 1,
            ..TestRun::default()
        };
        bpf(BPF_PROG_TEST_RUN, &mut run)?;
        Ok(run.retval)
    }
}

/// The program attached to an interface; dropping it detaches the program.
pub struct Link {
    link: OwnedFd,
    ifindex: u32,
    mode: AttachMode,
}

impl fmt::Debug for Link {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Link")
            .field("link", &self.link.as_raw_fd())
            .field("ifindex", &self.ifindex)
            .field("mode", &self.mode)
            .finish()
    }
}

impl Link {
    /// Where the program runs: in the driver or generic.
    pub fn mode(&self) -> AttachMode {
        self.mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_land_on_their_labels() {
        let code = assemble(&[Rule::listen("0.0.0.0:53".parse().unwrap())], 0);
        for (at, insn) in code.iter().enumerate() {
            let class = insn.code & 0x07;
            let op = insn.code & 0xf0;
            if (class == JMP || class == JMP32) && op != OP_CALL && op != OP_EXIT {
                let target = at as isize + 1 + insn.off as isize;
                assert!(target > at as isize && (target as usize) < code.len());
            }
        }
        // Both paths end with exit.
        assert_eq!(code.last().unwrap().code, JMP | OP_EXIT);
    }

    #[test]
    fn raw_values_match_a_native_load() {
        let frame = [0x08u8, 0x00];
        assert_eq!(raw16([0x08, 0x00]), i32::from(u16::from_ne_bytes(frame)));
        let address = Ipv4Addr::new(198, 18, 0, 1);
        assert_eq!(
            raw32(address.octets()) as u32,
            u32::from_ne_bytes([198, 18, 0, 1])
        );
    }
}

/// The filter run by the kernel on synthetic frames (`BPF_PROG_TEST_RUN`).
/// Needs root: skipped, loudly, otherwise.
#[cfg(test)]
mod kernel_tests {
    use super::*;
    use crate::xdp::iface;
    use crate::xdp::socket::{SocketConfig, XdpSocket, ZeroCopy};

    fn root() -> bool {
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        if !root {
            eprintln!("SKIPPED: the XDP filter tests need root (bpf(2), AF_XDP); not run");
        }
        root
    }

    /// An Ethernet frame carrying `l4` (protocol `protocol`) from `source` to
    /// `destination`; IPv4 gets `options` bytes of IP options and `fragment`
    /// as its flags and offset.
    fn frame(
        destination: IpAddr,
        protocol: u8,
        port: u16,
        options: usize,
        fragment: u16,
    ) -> Vec<u8> {
        let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        let mut udp = vec![0x30, 0x39];
        udp.extend_from_slice(&port.to_be_bytes());
        udp.extend_from_slice(&[0, 12, 0, 0, 0xab, 0xcd, 0x01, 0x00]);
        match destination {
            IpAddr::V4(address) => {
                frame.extend_from_slice(&[0x08, 0x00]);
                let header = 20 + options;
                let total = (header + udp.len()) as u16;
                frame.push(0x40 | (header / 4) as u8);
                frame.push(0);
                frame.extend_from_slice(&total.to_be_bytes());
                frame.extend_from_slice(&[0, 0]);
                frame.extend_from_slice(&fragment.to_be_bytes());
                frame.extend_from_slice(&[64, protocol, 0, 0, 198, 18, 0, 2]);
                frame.extend_from_slice(&address.octets());
                frame.extend(std::iter::repeat_n(1, options));
            }
            IpAddr::V6(address) => {
                frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
                frame.extend_from_slice(&(udp.len() as u16).to_be_bytes());
                frame.extend_from_slice(&[protocol, 64]);
                frame.extend_from_slice(&"fd00::2".parse::<Ipv6Addr>().unwrap().octets());
                frame.extend_from_slice(&address.octets());
            }
        }
        frame.extend_from_slice(&udp);
        frame
    }

    const UDP: u8 = 17;
    const TCP: u8 = 6;

    #[test]
    fn the_filter_redirects_only_our_udp() {
        if !root() {
            return;
        }
        let ours4: IpAddr = "198.18.0.1".parse().unwrap();
        let ours6: IpAddr = "fd00::1".parse().unwrap();
        let other4: IpAddr = "198.18.0.9".parse().unwrap();
        let other6: IpAddr = "fd00::9".parse().unwrap();
        let rules = [
            Rule::listen(SocketAddr::new(ours4, 53)),
            Rule::listen(SocketAddr::new(ours6, 5353)),
            Rule {
                destination: "0.0.0.0".parse().unwrap(),
                ports: 40000..=40009,
            },
        ];
        let program = Program::load(&rules, 1).unwrap();
        // Queue 0 of the loopback interface (where test runs arrive) gets a
        // socket, so a redirect finds one.
        let _queue = crate::xdp::LOOPBACK_QUEUE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let socket = XdpSocket::new(
            iface::index("lo").unwrap(),
            0,
            SocketConfig {
                frame_size: 2048,
                ring_size: 64,
                zero_copy: ZeroCopy::Off,
            },
        )
        .unwrap();
        program.register(0, &socket).unwrap();
        let verdict = |frame: &[u8]| program.test_run(frame).unwrap();
        assert_eq!(verdict(&frame(ours4, UDP, 53, 0, 0)), XDP_REDIRECT);
        assert_eq!(verdict(&frame(ours6, UDP, 5353, 0, 0)), XDP_REDIRECT);
        // DF alone is not a fragment.
        assert_eq!(verdict(&frame(ours4, UDP, 53, 0, 0x4000)), XDP_REDIRECT);
        // Any IPv4 address on the wildcard rule's ports, at both ends.
        assert_eq!(verdict(&frame(other4, UDP, 40000, 0, 0)), XDP_REDIRECT);
        assert_eq!(verdict(&frame(other4, UDP, 40009, 0, 0)), XDP_REDIRECT);
        for passed in [
            frame(ours4, UDP, 54, 0, 0),
            frame(ours4, TCP, 53, 0, 0),
            frame(other4, UDP, 53, 0, 0),
            frame(other4, UDP, 40010, 0, 0),
            frame(other4, UDP, 39999, 0, 0),
            frame(ours4, UDP, 53, 4, 0),
            frame(ours4, UDP, 53, 0, 0x2000),
            frame(ours4, UDP, 53, 0, 0x0001),
            frame(ours6, UDP, 53, 0, 0),
            frame(ours6, TCP, 5353, 0, 0),
            frame(other6, UDP, 5353, 0, 0),
            frame(ours6, 44, 5353, 0, 0),
            frame(ours6, 0, 5353, 0, 0),
        ] {
            assert_eq!(verdict(&passed), XDP_PASS, "{passed:02x?}");
        }
        // VLAN-tagged: passed.
        let mut tagged = frame(ours4, UDP, 53, 0, 0);
        tagged.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
        assert_eq!(verdict(&tagged), XDP_PASS);
        // ARP: passed.
        let mut arp = frame(ours4, UDP, 53, 0, 0);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(verdict(&arp), XDP_PASS);
        // Runts, every length: passed, and the verifier's bounds checks hold.
        let whole = frame(ours6, UDP, 5353, 0, 0);
        for len in 14..whole.len() {
            let expected = if len >= 62 { XDP_REDIRECT } else { XDP_PASS };
            assert_eq!(verdict(&whole[..len]), expected, "length {len}");
        }
        // Without a socket for the queue, our UDP too goes to the kernel.
        program.unregister(0).unwrap();
        assert_eq!(verdict(&frame(ours4, UDP, 53, 0, 0)), XDP_PASS);
    }
}
