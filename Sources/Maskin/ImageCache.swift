import Crypto
import DataverketCore
import Foundation

/// Kernel and initramfs images from a directory, each checked against `SHA256SUMS` (when present, only the files
/// it lists are served, and a file whose checksum does not match is refused).
public struct ImageCache: Sendable {
    public struct Asset: Sendable, Hashable {
        public var name: String
        public var path: String
        public var size: Int
        public var sha256: String
    }

    public let directory: String
    let sums: [String: String]?

    public init(directory: String) throws {
        self.directory = directory
        if let data = FileManager.default.contents(atPath: directory + "/SHA256SUMS") {
            var sums: [String: String] = [:]
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let name = parts[1].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "*", with: "")
                sums[(name as NSString).lastPathComponent] = String(parts[0]).lowercased()
            }
            self.sums = sums
        } else {
            self.sums = nil
        }
    }

    public func asset(_ name: String) throws -> Asset {
        guard !name.isEmpty, name.count <= 128, !name.hasPrefix("."),
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw DataverketError(.malformedRequest, "not an asset name")
        }
        let path = directory + "/" + name
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              (attributes[.type] as? FileAttributeType) == .typeRegular, let size = attributes[.size] as? Int else {
            throw DataverketError.notFound("asset", name)
        }
        if let sums {
            guard let expected = sums[name] else { throw DataverketError.notFound("asset", name) }
            return Asset(name: name, path: path, size: size, sha256: expected)
        }
        return Asset(name: name, path: path, size: size, sha256: try Self.sha256(path))
    }

    /// Verifies a listed asset's checksum (at start, and by `dataverket maskin assets verify`).
    public func verify(_ name: String) throws -> Bool {
        let asset = try asset(name)
        return try Self.sha256(asset.path) == asset.sha256
    }

    public func read(_ asset: Asset, range: Range<Int>) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: asset.path) else { throw DataverketError.notFound("asset", asset.name) }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(range.lowerBound))
        return Array(try handle.read(upToCount: range.count) ?? Data())
    }

    static func sha256(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw DataverketError.notFound("asset", path) }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// `bytes=a-b`, `bytes=a-`, `bytes=-n` (one range); nil when unsatisfiable or malformed.
    public static func parseRange(_ header: String, size: Int) -> Range<Int>? {
        guard header.hasPrefix("bytes="), size > 0 else { return nil }
        let spec = header.dropFirst(6)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int(last), suffix > 0 else { return nil }
            return max(0, size - suffix)..<size
        }
        guard let start = Int(first), start >= 0, start < size else { return nil }
        if last.isEmpty { return start..<size }
        guard let end = Int(last), end >= start else { return nil }
        return start..<(min(end, size - 1) + 1)
    }
}
