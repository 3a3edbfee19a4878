import Crypto
import DataverketCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The key that seals Identitet's secrets at rest (signing keys): AES-256-GCM.
///
/// From `DV_MASTER_KEY` (base64 of 32 bytes) when set — production keeps it in a secret store — else from
/// `<data dir>/master.key`, created (0600) on first start.
public struct MasterKey: Sendable {
    let key: SymmetricKey

    public init(base64: String) throws {
        guard let data = Data(base64Encoded: base64), data.count == 32 else {
            throw DataverketError(.invalidArgument, "the master key must be 32 bytes, base64-encoded")
        }
        key = SymmetricKey(data: data)
    }

    /// A fresh random key (tests, or a first start).
    public static func random() -> MasterKey {
        MasterKey(key: SymmetricKey(size: .bits256))
    }

    private init(key: SymmetricKey) { self.key = key }

    /// `DV_MASTER_KEY` if given, else `<directory>/master.key`, created 0600 if missing.
    public static func load(environment value: String?, directory: String) throws -> MasterKey {
        if let value, !value.isEmpty { return try MasterKey(base64: value) }
        let path = directory + "/master.key"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            return try MasterKey(base64: text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = random()
        let encoded = key.key.withUnsafeBytes { Data($0).base64EncodedString() }
        try SecretFile.write(encoded + "\n", to: path)
        return key
    }

    /// A key for another context's secrets at rest, derived from this one (HKDF-SHA256, `dataverket/<purpose>`):
    /// one master key to keep, no key reused across purposes.
    public func derivedKey(purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Data("dataverket/\(purpose)".utf8), outputByteCount: 32)
    }

    /// Seals `plaintext`; the result (nonce + ciphertext + tag) is base64.
    func seal(_ plaintext: Data) throws -> String {
        guard let combined = try AES.GCM.seal(plaintext, using: key).combined else {
            throw DataverketError(.internal, "sealing failed")
        }
        return combined.base64EncodedString()
    }

    func open(_ sealed: String) throws -> Data {
        guard let data = Data(base64Encoded: sealed) else { throw DataverketError(.internal, "sealed value is not base64") }
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key)
        } catch {
            throw DataverketError(.internal, "cannot open a sealed secret: wrong master key?", cause: error)
        }
    }
}

/// Files that hold secrets: written 0600, atomically.
public enum SecretFile {
    public static func write(_ text: String, to path: String) throws {
        let temporary = path + ".tmp-\(ULID.make())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw DataverketError(.internal, "cannot write \(path)")
        }
        guard rename(temporary, path) == 0 else { throw DataverketError(.internal, "cannot replace \(path): errno \(errno)") }
    }
}

/// Random opaque secrets and their at-rest digests.
enum Secrets {
    /// 32 random bytes, base64url without padding, after a readable prefix.
    static func make(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return prefix + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// SHA-256, hex: what the store keeps instead of the secret.
    static func digest(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
