#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// What every fuzz target shares: the input as text, the invariant check, and the replay entry point.
///
/// A target exports `LLVMFuzzerTestOneInput` (`@_cdecl`). Built by scripts/fuzz (`--sanitize fuzzer -Xswiftc
/// -DLIBFUZZER`), it defines no `main`: libFuzzer's is the program. Built without, its `@main` calls `Fuzz.replay`,
/// which runs the files named on the command line (or every file in a named directory) through the same function —
/// to reproduce a crash file where libFuzzer is not available (Xcode's toolchain has none).
public enum Fuzz {
    /// `LLVMFuzzerTestOneInput`'s type. The pointer is optional: libFuzzer may pass none for an empty input.
    public typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    /// The bytes, copied.
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// The input as the parsers receive it: the text when the bytes are valid UTF-8, else the bytes decoded with
    /// replacement characters, as `String(decoding:as:)` does for a file or request body read from disk or the wire.
    public static func text(_ bytes: [UInt8]) -> String {
        String(validating: bytes, as: UTF8.self) ?? String(decoding: bytes, as: UTF8.self)
    }

    /// Lines in `text` as libyaml counts them (a break is LF, CR LF, a lone CR, NEL, LS or PS), at least 1.
    public static func lineCount(_ text: String) -> Int {
        var lines = 1
        var previous: Unicode.Scalar = " "
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": if previous != "\r" { lines += 1 }
            case "\r", "\u{85}", "\u{2028}", "\u{2029}": lines += 1
            default: break
            }
            previous = scalar
        }
        return lines
    }

    /// An invariant: when it fails, the process stops with the message (libFuzzer saves the input as a crash).
    public static func require(_ condition: Bool, _ message: @autoclosure () -> String, input: String = "",
                               file: StaticString = #fileID, line: UInt = #line) {
        guard !condition else { return }
        let shown = input.unicodeScalars.prefix(300).map { $0.value < 0x20 || $0.value == 0x7f ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
        fatalError("invariant broken: \(message())\ninput: \(shown)", file: file, line: line)
    }

    /// Whether to tell what each input did (`FUZZ_VERBOSE=1`): to see, for one file, whether it was accepted.
    public static let verbose = ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] != nil

    /// With `FUZZ_VERBOSE` set, writes `line` to standard error.
    public static func note(_ line: @autoclosure () -> String) {
        if verbose { say(line()) }
    }

    /// Runs every file named in `arguments` (a directory: every file directly inside it, by name) through `test`.
    /// Arguments starting with `-` (libFuzzer's flags) are skipped. Exits 0 when all ran; a broken invariant traps.
    public static func replay(_ test: TestOneInput, arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        let manager = FileManager.default
        var files: [String] = []
        for argument in arguments where !argument.hasPrefix("-") {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                say("no such file or directory: \(argument)")
                exit(2)
            }
            if isDirectory.boolValue {
                let names = ((try? manager.contentsOfDirectory(atPath: argument)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
                files += names.map { (argument as NSString).appendingPathComponent($0) }
            } else {
                files.append(argument)
            }
        }
        guard !files.isEmpty else {
            say("usage: \(CommandLine.arguments.first ?? "fuzz") FILE|DIRECTORY… (built without libFuzzer: replays inputs)")
            exit(2)
        }
        for file in files {
            guard let data = manager.contents(atPath: file) else {
                say("cannot read \(file)")
                exit(2)
            }
            say("Running: \(file)")
            let bytes = [UInt8](data)
            _ = bytes.withUnsafeBufferPointer { test($0.baseAddress, $0.count) }
        }
        say("replayed \(files.count) inputs")
        exit(0)
    }

    private static func say(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
