//! Users, groups and giving up root.
//!
//! A server started as root to bind port 53 switches to an unprivileged
//! user once every socket is bound (`server.user` and `server.group`, see
//! `runtime`). This file holds the libc calls that takes: looking names up
//! in the user and group databases (`getpwnam_r`, `getgrnam_r`,
//! `getgrouplist`, so NSS sources such as LDAP work too), reading the
//! process's ids, and the switch itself (`setgroups`, `setgid`, `setuid`,
//! in that order: each later call needs the privilege the earlier ones use).
//!
//! glibc applies `setgroups`, `setgid` and `setuid` to every thread of the
//! process (it signals each thread to make the system call), but the runtime
//! still switches before it starts any thread, so nothing ever runs as root
//! beside the switch.

use std::ffi::CString;
use std::io;

/// Largest buffer we let a user or group lookup grow to: entries larger
/// than this (a group with thousands of members) are an error, not an
/// unbounded allocation.
const LOOKUP_BUFFER_MAX: usize = 1 << 20;
/// The first buffer a lookup tries, doubled on `ERANGE`.
const LOOKUP_BUFFER_INITIAL: usize = 4096;
/// Most supplementary groups we accept for a user (Linux's `NGROUPS_MAX`).
const GROUPS_MAX: usize = 65536;

/// A user's entry in the user database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
}

/// The process's real and effective ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
}

impl Identity {
    /// Whether the process runs as root (effective uid 0).
    pub fn is_root(&self) -> bool {
        self.euid == 0
    }

    /// Whether real and effective ids are exactly `uid` and `gid`.
    pub fn is(&self, uid: u32, gid: u32) -> bool {
        self.uid == uid && self.euid == uid && self.gid == gid && self.egid == gid
    }
}

/// `name` as a C string; an error when it holds a NUL byte.
fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the name holds a NUL byte"))
}

/// Whether `getpwnam_r`/`getgrnam_r` returning `code` means "no such
/// entry": 0 with no result is the standard answer, but `getpwnam_r(3)`
/// lists these as what some sources return instead.
fn means_not_found(code: i32) -> bool {
    matches!(code, libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM)
}

/// Runs one `getpwnam_r`/`getgrnam_r`-style lookup: `call` fills `entry`
/// from the database with strings in `buffer` and points `result` at it,
/// returning 0 or an error number; the buffer grows on `ERANGE`. `read`
/// takes what is wanted from the entry while the buffer still lives.
/// `None` when there is no such entry.
fn lookup_entry<T, R>(
    mut entry: T,
    call: impl Fn(&mut T, &mut [libc::c_char], &mut *mut T) -> i32,
    read: impl Fn(&T) -> R,
) -> io::Result<Option<R>> {
    let mut buffer: Vec<libc::c_char> = vec![0; LOOKUP_BUFFER_INITIAL];
    loop {
        let mut result: *mut T = std::ptr::null_mut();
        let code = call(&mut entry, &mut buffer, &mut result);
        if code == libc::ERANGE && buffer.len() < LOOKUP_BUFFER_MAX {
            buffer.resize(buffer.len() * 2, 0);
            continue;
        }
        if code != 0 {
            return if means_not_found(code) {
                Ok(None)
            } else {
                Err(io::Error::from_raw_os_error(code))
            };
        }
        return Ok((!result.is_null()).then(|| read(&entry)));
    }
}

/// Looks `name` up in the user database; `None` when there is no such user.
pub fn user_by_name(name: &str) -> io::Result<Option<User>> {
    let name = c_name(name)?;
    // SAFETY: `passwd` is a C struct of integers and raw pointers, for
    // which all zero bytes is a valid value.
    let empty: libc::passwd = unsafe { std::mem::zeroed() };
    lookup_entry(
        empty,
        |entry, buffer, result| {
            // SAFETY: `name` is a NUL-terminated string; `entry`, `buffer`
            // (with its true length) and `result` are valid and writable
            // for the call; the strings the entry points to live in
            // `buffer`, and only its integer fields are read.
            unsafe {
                libc::getpwnam_r(
                    name.as_ptr(),
                    entry,
                    buffer.as_mut_ptr(),
                    buffer.len(),
                    result,
                )
            }
        },
        |entry| User {
            uid: entry.pw_uid,
            gid: entry.pw_gid,
        },
    )
}

/// Looks `name` up in the group database and returns its id; `None` when
/// there is no such group.
pub fn group_by_name(name: &str) -> io::Result<Option<u32>> {
    let name = c_name(name)?;
    // SAFETY: `group` is a C struct of integers and raw pointers, for which
    // all zero bytes is a valid value.
    let empty: libc::group = unsafe { std::mem::zeroed() };
    lookup_entry(
        empty,
        |entry, buffer, result| {
            // SAFETY: as in `user_by_name`: every pointer is valid and
            // writable for the call, `buffer` with its true length; only
            // `gr_gid` is read.
            unsafe {
                libc::getgrnam_r(
                    name.as_ptr(),
                    entry,
                    buffer.as_mut_ptr(),
                    buffer.len(),
                    result,
                )
            }
        },
        |entry| entry.gr_gid,
    )
}

/// The groups user `name` belongs to: `gid` (its primary group) and every
/// group that lists it as a member.
pub fn groups_of(name: &str, gid: u32) -> io::Result<Vec<u32>> {
    let name = c_name(name)?;
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut count = libc::c_int::try_from(groups.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `name` is NUL-terminated; `groups` has room for `count`
        // ids (its true length) and `count` is a valid, writable int owned by
        // this frame; `getgrouplist` writes at most `count` ids and stores
        // the number found in `count`.
        let result =
            unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        let found = usize::try_from(count).unwrap_or(0);
        if result >= 0 {
            groups.truncate(found.min(groups.len()));
            return Ok(groups);
        }
        // Too small: `count` now holds the number needed.
        let needed = found.max(groups.len() * 2);
        if needed > GROUPS_MAX {
            return Err(io::Error::other(format!(
                "the user is in more than {GROUPS_MAX} groups"
            )));
        }
        groups.resize(needed, 0);
    }
}

/// The process's real and effective user and group ids.
pub fn current() -> Identity {
    // SAFETY: these four calls take no arguments, cannot fail and only read
    // the process's credentials.
    unsafe {
        Identity {
            uid: libc::getuid(),
            euid: libc::geteuid(),
            gid: libc::getgid(),
            egid: libc::getegid(),
        }
    }
}

/// Switches the whole process from root to `uid`, `gid` and the
/// supplementary `groups`, for good, and checks that it took: real and
/// effective ids are the new ones and `setuid(0)` fails (unless `uid` is 0).
/// Needs root (or CAP_SETUID and CAP_SETGID).
pub fn switch_to(uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
    // SAFETY: `groups` is a valid slice of `gid_t` (u32 on Linux) whose
    // length we pass; `setgroups` only reads it.
    if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
        return Err(with_context("setgroups", io::Error::last_os_error()));
    }
    // SAFETY: `setgid` takes an integer and changes only credentials.
    if unsafe { libc::setgid(gid) } != 0 {
        return Err(with_context("setgid", io::Error::last_os_error()));
    }
    // SAFETY: `setuid` takes an integer and changes only credentials.
    if unsafe { libc::setuid(uid) } != 0 {
        return Err(with_context("setuid", io::Error::last_os_error()));
    }
    let now = current();
    if !now.is(uid, gid) {
        return Err(io::Error::other(format!(
            "after the switch the process runs as {now:?}, not uid {uid} gid {gid}"
        )));
    }
    if uid != 0 {
        // SAFETY: as above; this call is expected to fail with EPERM.
        if unsafe { libc::setuid(0) } == 0 {
            return Err(io::Error::other(
                "setuid(0) succeeded after the switch: root could be regained",
            ));
        }
        if gid != 0 {
            // SAFETY: as above; expected to fail with EPERM.
            if unsafe { libc::setgid(0) } == 0 {
                return Err(io::Error::other(
                    "setgid(0) succeeded after the switch: group root could be regained",
                ));
            }
        }
    }
    Ok(())
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Gives up every capability of the calling thread for good: the ambient
/// set, then the effective, permitted and inheritable sets (`capset`). For a
/// process started without root but with capabilities (systemd's
/// `AmbientCapabilities=`, `setcap`) once its sockets are made: nothing
/// after start-up needs them. Threads started afterwards inherit the empty
/// sets.
pub fn drop_capabilities() -> io::Result<()> {
    // SAFETY: prctl with integer arguments; changes only this thread's
    // ambient capability set.
    let cleared = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if cleared != 0 {
        return Err(with_context(
            "prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
            io::Error::last_os_error(),
        ));
    }
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset reads a version 3 header and the two data words that
    // version defines, both live on the stack for the call.
    let result =
        unsafe { libc::syscall(libc::SYS_capset, std::ptr::from_ref(&header), data.as_ptr()) };
    if result != 0 {
        return Err(with_context("capset", io::Error::last_os_error()));
    }
    Ok(())
}

fn with_context(call: &str, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{call}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_its_group_are_found() {
        let root = user_by_name("root")
            .unwrap()
            .expect("every system has root");
        assert_eq!(root, User { uid: 0, gid: 0 });
        assert_eq!(group_by_name("root").unwrap(), Some(0));
        assert!(groups_of("root", 0).unwrap().contains(&0));
    }

    #[test]
    fn unknown_names_are_none() {
        assert_eq!(user_by_name("dnslb-no-such-user-x").unwrap(), None);
        assert_eq!(group_by_name("dnslb-no-such-group-x").unwrap(), None);
        assert!(user_by_name("nul\0byte").is_err());
    }

    #[test]
    fn the_current_identity_is_consistent() {
        let identity = current();
        assert_eq!(identity.is_root(), identity.euid == 0);
        // The test binary is not set-uid: real and effective ids agree.
        assert!(identity.is(identity.uid, identity.gid));
    }
}
