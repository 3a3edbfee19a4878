import DataverketCore
import FuzzSupport
import Yams

// YAMLGuard, the bound every YAML reader applies before composing (Sources/DataverketCore/YAMLGuard.swift).
//
// Invariants, each a trap when broken:
// - `check` returns or throws its `Problem` (typed throws); it never traps or runs long (libFuzzer's -timeout).
// - Too large exactly when the text has more bytes than the limit; every other refusal names a line (1…the text's
//   lines) and a column ≥ 1, and its message is one line of bounded length (it quotes at most the line).
// - Text the guard accepts composes (Yams) into at most what the guard allowed: the nodes written out plus at most
//   max(allowance, written) repeated by aliases. Nodes are counted with a cap, so a broken bound cannot run away.
// - A composer error on accepted text still maps to a problem with a line (`YAMLGuard.problem(composing:)`).
// - Every scalar of accepted text can be read as an Int (what decoding an intent does) without trapping.
// - The byte helpers (`position(ofByte:)`, `quote(line:)`) take any bytes, valid UTF-8 or not.

#if !LIBFUZZER
@main
struct Replay {
    static func main() { Fuzz.replay(fuzzYAMLGuard) }
}
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzYAMLGuard(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    let text = Fuzz.text(bytes)
    checkByteHelpers(bytes)
    // The default limits, and small ones so the size, depth and alias bounds are reached by short inputs too.
    guardRun(text, limits: .default)
    guardRun(text, limits: .init(maxBytes: 256, maxDepth: 6, aliasExpansionAllowance: 40))
    return 0
}

private func guardRun(_ text: String, limits: YAMLGuard.Limits) {
    let byteCount = text.utf8.count
    do {
        try YAMLGuard.check(text, limits: limits)
    } catch {
        Fuzz.require(error.code == .tooLarge ? byteCount > limits.maxBytes : byteCount <= limits.maxBytes,
                     "refused as \(error.code.rawValue) with \(byteCount) bytes against \(limits.maxBytes)", input: text)
        let mapped = error.error(source: "fuzz.yaml")
        Fuzz.require(mapped.code == (error.code == .tooLarge ? .payloadTooLarge : .invalidArgument) && mapped.message.hasPrefix("fuzz.yaml: "),
                     "mapped to \(mapped.code): \(mapped.message)", input: text)
        if error.code != .tooLarge { checkPlace(error, in: text) }
        return
    }
    Fuzz.require(byteCount <= limits.maxBytes, "accepted \(byteCount) bytes against \(limits.maxBytes)", input: text)
    // What composing may build: each node of the text is at least one byte or one of a few implicit nulls per byte,
    // so written ≤ 2·bytes + 2, and aliases add at most max(allowance, written).
    let written = 2 * byteCount + 2
    let bound = written + max(limits.aliasExpansionAllowance, written)
    do {
        var sequence = try Yams.compose_all(yaml: text)
        var nodes = 0
        while let node = sequence.next() {
            nodes += count(node, cap: bound - nodes + 1)
            Fuzz.require(nodes <= bound, "composed more than \(bound) nodes after the guard accepted \(byteCount) bytes", input: text)
        }
        if let error = sequence.error { checkPlace(YAMLGuard.problem(composing: error, text: text), in: text) }
    } catch {
        checkPlace(YAMLGuard.problem(composing: error, text: text), in: text)
    }
}

/// A refusal other than size: a place inside the text and a one-line message of bounded length.
private func checkPlace(_ problem: YAMLGuard.Problem, in text: String) {
    guard let position = problem.position else {
        return Fuzz.require(false, "\(problem.code.rawValue) without a place: \(problem.message)", input: text)
    }
    let lines = Fuzz.lineCount(text)
    Fuzz.require(position.line >= 1 && position.line <= lines && position.column >= 1,
                 "place \(position) outside the text's \(lines) lines: \(problem)", input: text)
    let description = problem.description
    Fuzz.require(!description.contains("\n") && !description.contains("\r"), "a message of more than one line: \(description)", input: text)
    Fuzz.require(description.utf8.count <= 1_500, "a message of \(description.utf8.count) bytes", input: text)
}

/// Nodes in `node`, aliases counted as often as they are repeated; stops counting past `cap`.
private func count(_ node: Node, cap: Int) -> Int {
    var total = 1
    switch node {
    case .scalar(let scalar):
        _ = Int.construct(from: scalar)
    case .alias:
        break
    case .sequence(let sequence):
        for child in sequence where total <= cap { total += count(child, cap: cap - total) }
    case .mapping(let mapping):
        for (key, value) in mapping where total <= cap {
            total += count(key, cap: cap - total)
            total += count(value, cap: cap - total)
        }
    }
    return total
}

private func checkByteHelpers(_ bytes: [UInt8]) {
    let lines = Fuzz.lineCount(String(decoding: bytes, as: UTF8.self))
    for offset in [-1, 0, bytes.count / 2, bytes.count, bytes.count + 7] {
        let position = YAMLGuard.position(ofByte: offset, in: bytes)
        Fuzz.require(position.line >= 1 && position.line <= lines && position.column >= 1, "position(ofByte: \(offset)) is \(position)")
    }
    for line in [0, 1, lines / 2 + 1, lines, lines + 1] {
        let quote = YAMLGuard.quote(line: line, in: bytes)
        Fuzz.require(!quote.contains("\n") && quote.unicodeScalars.count <= 130 * 7, "quote(line: \(line)) is \(quote.utf8.count) bytes")
        Fuzz.require(quote.isEmpty || (1...lines).contains(line), "quote(line: \(line)) outside \(lines) lines")
    }
}
