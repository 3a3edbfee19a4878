import DataverketCore
import Foundation
import FuzzSupport
import NettIntent
import Yams

// The network intent: `NetworkIntent.load` (YAML or JSON, what `dvnet plan/apply -f` reads), then what the server and
// the CLI do with an intent that loads: verify it, diff it, render each device's configuration.
//
// Invariants, each a trap when broken:
// - Loading any text returns an intent or throws a `DataverketError` (typed throws): invalid-argument, or
//   payload-too-large for size; never a trap or a long run (libFuzzer's -timeout).
// - The error names the source; a YAML error (not valid YAML, too deep, alias expansion, a base-60 number too large)
//   names a line and column in the text and is one line.
// - An intent that loads re-encodes to YAML that loads to the same intent, and to JSON that decodes to it.
// - Verifying, diffing and rendering an intent that loads never trap; an intent's diff against itself is empty.

#if !LIBFUZZER
@main
struct Replay {
    static func main() { Fuzz.replay(fuzzNetworkIntent) }
}
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNetworkIntent(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // As `dvnet` reads a file: invalid UTF-8 becomes replacement characters.
    let text = Fuzz.text(Fuzz.bytes(data, size))
    let intent: NetworkIntent
    do {
        intent = try NetworkIntent.load(yaml: text, source: "fuzz.yaml")
    } catch {
        Fuzz.note("refused: \(error.message)")
        checkRefusal(error, text: text)
        return 0
    }
    checkRoundTrip(intent, text: text)
    let report = IntentVerifier.verify(intent)
    Fuzz.note("loaded; \(report.problems.count) problems\(report.problems.prefix(5).map { "\n  \($0.code): \($0.message)" }.joined())")
    Fuzz.require(intent.changes(from: intent).isEmpty, "an intent differs from itself: \(intent.changes(from: intent).prefix(3))", input: text)
    _ = intent.changes(from: nil)
    if report.ok {
        let devices = Set((intent.ports ?? []).map(\.device) + (intent.routers ?? []).map(\.name)).sorted()
        let renderers: [any ConfigRenderer] = [SONiCRenderer(), EOSRenderer(), FRRRenderer(), NftablesRenderer(), OVSRenderer()]
        for device in devices.prefix(8) {
            for renderer in renderers { _ = try? renderer.render(intent, device: device) }
        }
    }
    return 0
}

private func checkRefusal(_ error: DataverketError, text: String) {
    Fuzz.require(error.code == .invalidArgument || error.code == .payloadTooLarge, "refused with \(error.code): \(error.message)", input: text)
    Fuzz.require(error.message.hasPrefix("fuzz.yaml"), "the refusal does not name its source: \(error.message)", input: text)
    let yamlError = ["not valid YAML", "nest too deep", "nest deeper", "aliases expand", "base-60"].contains { error.message.contains($0) }
    guard yamlError else { return }
    Fuzz.require(!error.message.contains("\n") && error.message.utf8.count <= 2_000, "a YAML error of more than one bounded line: \(error.message)", input: text)
    // "fuzz.yaml: line L, column C: …" (the guard) or "…: not valid YAML: line L, column C: …" (the composer).
    guard let range = error.message.range(of: "line "),
          let line = Int(error.message[range.upperBound...].prefix { $0.isNumber }),
          let columnRange = error.message.range(of: ", column ", range: range.upperBound..<error.message.endIndex),
          let column = Int(error.message[columnRange.upperBound...].prefix { $0.isNumber })
    else {
        return Fuzz.require(false, "a YAML error without a line and column: \(error.message)", input: text)
    }
    let lines = Fuzz.lineCount(text)
    Fuzz.require(line >= 1 && line <= lines && column >= 1, "line \(line), column \(column) outside the text's \(lines) lines: \(error.message)", input: text)
}

private func checkRoundTrip(_ intent: NetworkIntent, text: String) {
    do {
        let yaml = try YAMLEncoder().encode(intent)
        let again = try NetworkIntent.load(yaml: yaml, source: "written.yaml")
        Fuzz.require(again == intent, "the YAML written reads back differently:\n\(yaml)", input: text)
    } catch {
        Fuzz.require(false, "the YAML written does not load: \(error)", input: text)
    }
    // JSON as the API reads it (a JSON decoder): JSON through the YAML reader is not checked, since libyaml (YAML 1.1)
    // reads NEL, LS and PS inside a JSON string as line breaks and refuses non-printable characters there.
    do {
        let again = try JSONDecoder().decode(NetworkIntent.self, from: JSONEncoder().encode(intent))
        Fuzz.require(again == intent, "the JSON written reads back differently", input: text)
    } catch {
        Fuzz.require(false, "the JSON written does not decode: \(error)", input: text)
    }
}
