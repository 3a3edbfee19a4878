import Foundation

/// Where CLI output goes: standard output/error, or a capture in tests.
public struct Terminal: Sendable {
    public var out: @Sendable (String) -> Void
    public var err: @Sendable (String) -> Void

    public init(out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void) {
        self.out = out
        self.err = err
    }

    public static let standard = Terminal(
        out: { text in FileHandle.standardOutput.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8)) },
        err: { text in FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8)) })

    @TaskLocal public static var current: Terminal = .standard

    static func write(_ text: String) { current.out(text) }
    static func error(_ text: String) { current.err(text) }
}
