import Foundation

/// The allowed edges between the project's targets (docs/architecture.md draws the same table as a diagram).
///
/// A target may depend on — in Package.swift and in its `import` lines — only the project targets listed for it.
/// Third-party products are not constrained here, except through the `dv` closure check. Test targets may use
/// anything; executables are thin and name their one library.
enum Layers {
    static let core = "DataverketCore"
    static let intent = "NettIntent"
    static let store = "DataverketStore"
    static let nats = "NATS"
    static let process = "DataverketProcess"
    static let bus = "DataverketBus"
    static let tasks = "DataverketTasks"
    static let api = "DataverketAPI"
    static let client = "DataverketClient"

    /// The domain services: none depends on another (Sentral included).
    static let domains: Set<String> = ["Sentral", "Identitet", "Inventar", "Nett", "Maskin"]
    /// Targets with no I/O, which the CLI may link.
    static let pure: Set<String> = [core, intent]

    static let allowed: [String: Set<String>] = {
        var table: [String: Set<String>] = [
            // 1. Core
            core: [],
            intent: [core],
            // 2. Store, wire client, processes
            store: [core],
            nats: [],
            process: [core],
            // 3. Bus
            bus: [core, nats],
            // 4. Task engine
            tasks: [core, store, bus],
            // 5. Domains
            "Sentral": [core, store, tasks],
            "Identitet": [core, store, tasks],
            "Inventar": [core, store],
            "Nett": [core, intent, store, process, bus, tasks],
            "Maskin": [core, store, bus, tasks, process],
            // Contract and SDK
            api: [],
            client: [api],
            // 7. CLI: the SDK and pure targets only
            "DVCommands": [client, api, core, intent],
            // Test support: tests and benchmarks only
            "DataverketTestSupport": [core, store, process],
            // Executables
            "dataverket": ["DataverketServer"],
            "dv": ["DVCommands"], "dvid": ["DVCommands"], "dvce": ["DVCommands"], "dvnet": ["DVCommands"],
            "dv-bench": ["DataverketBench"],
        ]
        // 6. The server (composition root) may use every layer below it.
        let belowServer = Set([core, intent, store, nats, process, bus, tasks, api]).union(domains)
        table["DataverketServer"] = belowServer
        table["DataverketBench"] = belowServer.union([client, "DataverketServer", "DataverketTestSupport"])
        return table
    }()

    /// What the `dv` family must never link (checked on the product's dependency closure).
    static let forbiddenInCLI = Set([store, nats, bus, tasks, process, "DataverketServer"]).union(domains)
    /// Third-party products that mean a database or server stack got into the CLI.
    static let forbiddenProductsInCLI: Set<String> = ["SQLKit", "SQLiteKit", "PostgresKit", "PostgresNIO", "Hummingbird"]
}

/// One target of the manifest (`swift package dump-package`), reduced to what the check needs.
struct ManifestTarget: Sendable, Equatable {
    var name: String
    var type: String
    var path: String?
    /// Targets named in `dependencies` (byName or target).
    var targets: [String]
    /// Third-party products named in `dependencies`.
    var products: [String]
}

struct Manifest: Sendable {
    var targets: [ManifestTarget]
    var products: [String: [String]]

    /// Parses `swift package dump-package` output.
    init(json: Data) throws {
        guard let root = try JSONSerialization.jsonObject(with: json) as? [String: Any],
              let rawTargets = root["targets"] as? [[String: Any]]
        else { throw CheckError("dump-package output has no targets") }
        targets = try rawTargets.map { raw in
            guard let name = raw["name"] as? String, let type = raw["type"] as? String else {
                throw CheckError("a target without a name or type")
            }
            var targets: [String] = []
            var products: [String] = []
            for dependency in raw["dependencies"] as? [[String: Any]] ?? [] {
                if let byName = (dependency["byName"] ?? dependency["target"]) as? [Any], let first = byName.first as? String {
                    targets.append(first)
                } else if let product = dependency["product"] as? [Any], let first = product.first as? String {
                    products.append(first)
                }
            }
            return ManifestTarget(name: name, type: type, path: raw["path"] as? String, targets: targets, products: products)
        }
        var products: [String: [String]] = [:]
        for raw in root["products"] as? [[String: Any]] ?? [] {
            if let name = raw["name"] as? String { products[name] = raw["targets"] as? [String] ?? [] }
        }
        self.products = products
    }

    init(targets: [ManifestTarget], products: [String: [String]]) {
        self.targets = targets
        self.products = products
    }

    var names: Set<String> { Set(targets.map(\.name)) }

    func target(_ name: String) -> ManifestTarget? { targets.first { $0.name == name } }

    /// Every project target `product` links, and the third-party products they name.
    func closure(ofProduct product: String) -> (targets: Set<String>, products: Set<String>) {
        var seen: Set<String> = []
        var products: Set<String> = []
        var queue = self.products[product] ?? []
        while let next = queue.popLast() {
            guard seen.insert(next).inserted, let target = target(next) else { continue }
            products.formUnion(target.products)
            queue.append(contentsOf: target.targets)
        }
        return (seen, products)
    }
}

struct CheckError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A dependency the table does not allow, or an import the manifest does not declare.
struct Violation: Sendable, Equatable, CustomStringConvertible {
    var target: String
    var dependency: String
    var source: String
    var reason: String
    var description: String { "\(target) → \(dependency) (\(source)): \(reason)" }
}

enum LayerCheck {
    /// The project modules a Swift file imports.
    static func imports(in text: String) -> [String] {
        var modules: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            // Attributes and access levels before `import`: `@testable`, `@_exported`, `@preconcurrency`, `public`, …
            while let first = words.first, first.hasPrefix("@") || ["public", "package", "internal", "private", "fileprivate"].contains(first) {
                words.removeFirst()
            }
            guard words.count >= 2, words[0] == "import" else { continue }
            var module = words[1]
            if ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"].contains(module), words.count >= 3 {
                module = words[2]
            }
            modules.append(String(module.prefix { $0 != "." }))
        }
        return modules
    }

    /// Checks every non-test target's manifest dependencies and imports against `allowed`.
    /// `sources(target)` returns the target's Swift files as (relative path, text).
    static func violations(
        manifest: Manifest, allowed: [String: Set<String>], sources: (ManifestTarget) throws -> [(String, String)]
    ) rethrows -> [Violation] {
        let project = manifest.names
        var found: [Violation] = []
        for target in manifest.targets where target.type != "test" && target.type != "plugin" {
            guard let permitted = allowed[target.name] else {
                found.append(Violation(target: target.name, dependency: "-", source: "Package.swift",
                                       reason: "the target is not in the layer table (add it to docs/architecture.md and ArchitectureTests)"))
                continue
            }
            for dependency in target.targets where !permitted.contains(dependency) {
                found.append(Violation(target: target.name, dependency: dependency, source: "Package.swift", reason: reason(target.name, dependency)))
            }
            let declared = Set(target.targets)
            for (path, text) in try sources(target) {
                for module in Set(imports(in: text)) where project.contains(module) && module != target.name {
                    if !permitted.contains(module) {
                        found.append(Violation(target: target.name, dependency: module, source: path, reason: reason(target.name, module)))
                    } else if !declared.contains(module) {
                        found.append(Violation(target: target.name, dependency: module, source: path,
                                               reason: "imported but not declared in Package.swift"))
                    }
                }
            }
        }
        return found.sorted { ($0.target, $0.dependency, $0.source) < ($1.target, $1.dependency, $1.source) }
    }

    /// Why an edge is refused, in the words of docs/architecture.md.
    static func reason(_ target: String, _ dependency: String) -> String {
        if Layers.domains.contains(target) && Layers.domains.contains(dependency) {
            return dependency == "Sentral" ? "a domain never depends on Sentral" : "domain ↔ domain: domains talk through the bus and tasks"
        }
        if target == "DVCommands" { return "the CLI uses only the SDK and pure targets" }
        if target == Layers.core { return "Core is the bottom layer and does no I/O" }
        if target == Layers.nats { return "the NATS client knows nothing of Dataverket" }
        if target == Layers.store { return "the store sits below the bus" }
        return "not in the allowed edges"
    }

    /// The Swift files of `target` under `root` (its `path`, or `Sources/<name>`).
    static func swiftFiles(of target: ManifestTarget, root: URL) throws -> [(String, String)] {
        let directory = root.appendingPathComponent(target.path ?? "Sources/\(target.name)")
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
        var files: [(String, String)] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            let relative = String(url.path.dropFirst(root.path.count + 1))
            files.append((relative, try String(contentsOf: url, encoding: .utf8)))
        }
        return files
    }

    /// `swift package dump-package` of the package at `root`, with a scratch path of its own so it never waits on
    /// the lock of the build that runs this test.
    static func dumpPackage(root: URL) throws -> Manifest {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("dv-arch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["swift", "package", "--package-path", root.path, "--scratch-path", scratch.path, "dump-package"]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Read before waiting: the JSON is larger than a pipe's buffer.
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CheckError("swift package dump-package failed: \(String(decoding: stderr, as: UTF8.self))")
        }
        return try Manifest(json: data)
    }
}
