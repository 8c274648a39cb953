//! What AF_XDP needs to know about a network interface: its index, MTU,
//! hardware address, receive queues and IP addresses.

use std::ffi::CString;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ptr;

fn c_name(name: &str) -> io::Result<CString> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface names are 1 to 15 bytes",
        ));
    }
    CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))
}

/// The interface's index; `NotFound` when there is no such interface.
pub fn index(name: &str) -> io::Result<u32> {
    let c_name = c_name(name)?;
    // SAFETY: a NUL-terminated name that lives across the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        let error = io::Error::last_os_error();
        return Err(if error.raw_os_error() == Some(libc::ENODEV) {
            io::Error::new(io::ErrorKind::NotFound, "no such interface")
        } else {
            error
        });
    }
    Ok(index)
}

/// Runs an `ifreq` ioctl on a throwaway datagram socket.
fn ifreq(name: &str, request: libc::Ioctl) -> io::Result<libc::ifreq> {
    let c_name = c_name(name)?;
    // SAFETY: all-zero is a valid ifreq (integers and arrays).
    let mut request_data: libc::ifreq = unsafe { std::mem::zeroed() };
    for (to, &from) in request_data.ifr_name.iter_mut().zip(c_name.as_bytes()) {
        *to = from as libc::c_char;
    }
    // SAFETY: plain socket(2), checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `request_data` is a live ifreq, the argument both requests used
    // here (SIOCGIFMTU, SIOCGIFHWADDR) read and write.
    let result = unsafe { libc::ioctl(fd, request, ptr::from_mut(&mut request_data)) };
    let error = io::Error::last_os_error();
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    if result < 0 {
        return Err(error);
    }
    Ok(request_data)
}

/// The interface's MTU.
pub fn mtu(name: &str) -> io::Result<u32> {
    let request = ifreq(name, libc::SIOCGIFMTU)?;
    // SAFETY: SIOCGIFMTU fills the `ifru_mtu` member of the union.
    let mtu = unsafe { request.ifr_ifru.ifru_mtu };
    Ok(u32::try_from(mtu).unwrap_or(0))
}

/// The interface's Ethernet address.
pub fn mac(name: &str) -> io::Result<[u8; 6]> {
    let request = ifreq(name, libc::SIOCGIFHWADDR)?;
    // SAFETY: SIOCGIFHWADDR fills the `ifru_hwaddr` member of the union.
    let address = unsafe { request.ifr_ifru.ifru_hwaddr };
    let mut mac = [0; 6];
    for (to, &from) in mac.iter_mut().zip(address.sa_data.iter()) {
        *to = from as u8;
    }
    Ok(mac)
}

/// How many receive queues the interface has (its `queues/rx-*` in sysfs;
/// 1 when sysfs does not say).
pub fn rx_queues(name: &str) -> io::Result<u32> {
    c_name(name)?;
    let Ok(entries) = fs::read_dir(format!("/sys/class/net/{name}/queues")) else {
        return Ok(1);
    };
    let count = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("rx-"))
        .count();
    Ok(u32::try_from(count.max(1)).unwrap_or(u32::MAX))
}

/// The IP addresses on the interface, IPv4 first.
pub fn addresses(name: &str) -> io::Result<Vec<IpAddr>> {
    let mut list: *mut libc::ifaddrs = ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we free below.
    if unsafe { libc::getifaddrs(&raw mut list) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list getifaddrs returned, alive
        // until freeifaddrs.
        let node = unsafe { &*entry };
        entry = node.ifa_next;
        if node.ifa_addr.is_null() || node.ifa_name.is_null() {
            continue;
        }
        // SAFETY: a NUL-terminated name inside the list.
        let node_name = unsafe { std::ffi::CStr::from_ptr(node.ifa_name) };
        if node_name.to_bytes() != name.as_bytes() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points to a sockaddr whose family
        // says which struct it is.
        let family = i32::from(unsafe { (*node.ifa_addr).sa_family });
        if family == libc::AF_INET {
            // SAFETY: an AF_INET sockaddr is a sockaddr_in.
            let address = unsafe { &*node.ifa_addr.cast::<libc::sockaddr_in>() };
            found.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                address.sin_addr.s_addr,
            ))));
        } else if family == libc::AF_INET6 {
            // SAFETY: an AF_INET6 sockaddr is a sockaddr_in6.
            let address = unsafe { &*node.ifa_addr.cast::<libc::sockaddr_in6>() };
            found.push(IpAddr::V6(Ipv6Addr::from(address.sin6_addr.s6_addr)));
        }
    }
    // SAFETY: the list getifaddrs returned, freed once.
    unsafe { libc::freeifaddrs(list) };
    found.sort_by_key(|address| address.is_ipv6());
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_described() {
        let index = index("lo").unwrap();
        assert!(index > 0);
        assert!(mtu("lo").unwrap() >= 1500);
        assert_eq!(mac("lo").unwrap(), [0; 6]);
        assert!(rx_queues("lo").unwrap() >= 1);
        assert!(
            addresses("lo")
                .unwrap()
                .contains(&IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
    }

    #[test]
    fn a_missing_interface_is_named_as_such() {
        let error = index("nosuch0x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(index("").is_err());
        assert!(index("a-name-much-too-long").is_err());
    }
}
