import DataverketCore
import FuzzSupport

// The site file format (Sources/Inventar: SiteFile, SiteValidator, SiteWriter and the model, compiled here from
// symlinks so the fuzz build does not link the store Inventar depends on).
//
// Invariants, each a trap when broken:
// - Parsing and validating any text returns issues; it never traps or runs long (libFuzzer's -timeout).
// - Every parse issue (syntax, fields, types, duplicates) is in fuzz.yaml at a line of the text (never line 0); a
//   YAML error also has a column and is one line. Every validation issue with a place has a line of the text.
// - A declaration without issues re-encodes (SiteWriter, what `dv get -o yaml` prints) to text that parses and
//   validates without issues into the same model.

#if !LIBFUZZER
@main
struct Replay {
    static func main() { Fuzz.replay(fuzzSiteFile) }
}
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSiteFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // As `SiteSource.read` reads a file: invalid UTF-8 becomes replacement characters.
    let text = Fuzz.text(Fuzz.bytes(data, size))
    let source = SiteSource(name: "fuzz.yaml", text: text)
    let lines = Fuzz.lineCount(text)

    let (_, parseIssues) = SiteFile.parse([source])
    for issue in parseIssues {
        guard let location = issue.location else {
            Fuzz.require(false, "a parse issue without a place: \(issue)", input: text)
            continue
        }
        Fuzz.require(location.file == "fuzz.yaml" && location.line >= 1 && location.line <= lines,
                     "a parse issue outside the text's \(lines) lines: \(issue)", input: text)
        if issue.message.hasPrefix("not valid YAML") || location.column != nil {
            Fuzz.require((location.column ?? 0) >= 1, "a YAML error without a column: \(issue)", input: text)
            Fuzz.require(!issue.description.contains("\n") && issue.description.utf8.count <= 2_000,
                         "a YAML error of more than one bounded line: \(issue)", input: text)
        }
    }

    let (document, issues) = SiteFile.check([source])
    for issue in issues {
        guard let location = issue.location else { continue }
        Fuzz.require(location.file == "fuzz.yaml" && location.line >= 1 && location.line <= lines,
                     "an issue outside the text's \(lines) lines: \(issue)", input: text)
    }
    Fuzz.note("\(issues.count) issues\(issues.prefix(5).map { "\n  \($0)" }.joined())")
    guard issues.isEmpty else { return 0 }

    let written = SiteWriter.yaml(document.model)
    let (again, more) = SiteFile.check([SiteSource(name: "written.yaml", text: written)])
    Fuzz.require(more.isEmpty, "the written declaration has issues: \(more.prefix(3))\nwritten:\n\(written)", input: text)
    Fuzz.require(again.model.sorted() == document.model.sorted(), "the written declaration reads back differently\nwritten:\n\(written)", input: text)
    return 0
}
