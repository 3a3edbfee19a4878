import Foundation
import Testing

/// The package at the repository root.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

@Suite("Architecture: the layer table holds")
struct ArchitectureTests {
    @Test("every target's dependencies and imports are allowed edges")
    func layersHold() throws {
        let manifest = try LayerCheck.dumpPackage(root: repositoryRoot)
        #expect(manifest.names.isSuperset(of: Layers.domains.union([Layers.tasks, Layers.intent, "DataverketServer", "DVCommands"])))
        let violations = try LayerCheck.violations(manifest: manifest, allowed: Layers.allowed) {
            try LayerCheck.swiftFiles(of: $0, root: repositoryRoot)
        }
        #expect(violations.isEmpty, "forbidden edges:\n\(violations.map(\.description).joined(separator: "\n"))")
    }

    @Test("the dv product links no store, bus, NATS, task engine or domain module")
    func cliClosure() throws {
        let manifest = try LayerCheck.dumpPackage(root: repositoryRoot)
        for product in ["dv", "dvid", "dvce", "dvnet"] {
            let closure = manifest.closure(ofProduct: product)
            #expect(closure.targets.contains("DVCommands") && closure.targets.contains(Layers.client), "\(product): \(closure.targets)")
            #expect(closure.targets.isDisjoint(with: Layers.forbiddenInCLI), "\(product) links \(closure.targets.intersection(Layers.forbiddenInCLI).sorted())")
            #expect(closure.products.isDisjoint(with: Layers.forbiddenProductsInCLI),
                    "\(product) links \(closure.products.intersection(Layers.forbiddenProductsInCLI).sorted())")
        }
    }

    @Test("a fixture package with forbidden edges fails the check, each edge named")
    func fixtureFails() throws {
        let root = fixtures.appendingPathComponent("ForbiddenEdges")
        let manifest = try LayerCheck.dumpPackage(root: root)
        let violations = try LayerCheck.violations(manifest: manifest, allowed: Layers.allowed) {
            try LayerCheck.swiftFiles(of: $0, root: root)
        }
        let edges = Set(violations.map { "\($0.target)→\($0.dependency)@\($0.source)" })
        #expect(edges == [
            "Maskin→Nett@Package.swift", "Maskin→Nett@Sources/Maskin/Maskin.swift",
            "Maskin→DataverketStore@Sources/Maskin/Maskin.swift",
            "DVCommands→DataverketStore@Package.swift", "DVCommands→DataverketStore@Sources/DVCommands/Commands.swift",
        ], "\(violations.map(\.description).joined(separator: "\n"))")
        #expect(violations.first { $0.target == "Maskin" && $0.dependency == "Nett" }?.reason.contains("domain ↔ domain") == true)
        #expect(violations.first { $0.source.hasSuffix("Maskin.swift") && $0.dependency == "DataverketStore" }?.reason == "imported but not declared in Package.swift")
        let closure = manifest.closure(ofProduct: "dv")
        #expect(closure.targets.contains(Layers.store), "the fixture's dv links the store, and the closure sees it")
    }

    @Test("a forbidden import added to a real target is caught")
    func addedImportFails() throws {
        let manifest = try LayerCheck.dumpPackage(root: repositoryRoot)
        let cases: [(target: String, module: String, reason: String)] = [
            ("Maskin", "Inventar", "domain ↔ domain"),
            ("Nett", "Sentral", "never depends on Sentral"),
            ("DVCommands", "Nett", "only the SDK and pure targets"),
            ("DataverketCore", "DataverketStore", "bottom layer"),
            ("NATS", "DataverketCore", "knows nothing of Dataverket"),
            ("DataverketStore", "DataverketBus", "below the bus"),
        ]
        for (target, module, reason) in cases {
            let violations = try LayerCheck.violations(manifest: manifest, allowed: Layers.allowed) { candidate in
                var files = try LayerCheck.swiftFiles(of: candidate, root: repositoryRoot)
                if candidate.name == target { files.append(("Sources/\(target)/Injected.swift", "import Foundation\n@testable import \(module)\n")) }
                return files
            }
            #expect(violations.count == 1 && violations.first?.dependency == module && violations.first?.reason.contains(reason) == true,
                    "\(target) importing \(module): \(violations)")
        }
    }

    @Test("import lines are read with attributes, access levels and kinds", arguments: [
        ("import Nett", ["Nett"]),
        ("@testable import Sentral", ["Sentral"]),
        ("@preconcurrency public import NATS", ["NATS"]),
        ("import struct DataverketCore.ResourceID", ["DataverketCore"]),
        ("  import Foundation // comment", ["Foundation"]),
        ("// import Nett", []),
        ("let x = \"import Nett\"", []),
    ])
    func importLines(line: String, expected: [String]) {
        #expect(LayerCheck.imports(in: line) == expected)
    }
}
