#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback TCP port nobody listens on now.
public func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestSupportError("socket() failed") }
    defer { close(descriptor) }
    return try bindLoopback(descriptor)
}

/// A loopback TCP listener that never accepts: the kernel completes handshakes into its backlog, so a client
/// connects, sends its request and waits for an answer that never comes (a hung server, for timeout tests).
public final class SilentListener: Sendable {
    let descriptor: Int32
    public let port: Int

    public init() throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestSupportError("socket() failed") }
        do {
            port = try bindLoopback(descriptor)
        } catch {
            Glibc.close(descriptor)
            throw error
        }
        guard listen(descriptor, 16) == 0 else {
            Glibc.close(descriptor)
            throw TestSupportError("listen() failed")
        }
    }

    public func close() { Glibc.close(descriptor) }
}

/// Binds `descriptor` to 127.0.0.1 on a port the kernel picks; returns the port.
private func bindLoopback(_ descriptor: Int32) throws -> Int {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Bool in
            bind(descriptor, raw, length) == 0 && getsockname(descriptor, raw, &length) == 0
        }
    }
    guard bound else { throw TestSupportError("no free loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on loopback `port`.
public func portAcceptsConnections(_ port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}
