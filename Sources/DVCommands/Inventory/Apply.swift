import ArgumentParser
import DataverketClient
import Foundation

/// `dv apply -f FILE|DIR… [--dry-run] [--reason TEXT]`
struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Declare inventory from site files: plan it (--dry-run) or apply it as one change.",
        discussion: """
            A directory means every *.yaml/*.yml in it. Everything is validated first and every problem listed with \
            its file:line; nothing is written unless all of it is valid. Sensitive changes (removing a device, \
            re-cabling, a changed serial or MAC) wait for `dv approval approve`.
            """)

    @Option(name: [.short, .customLong("filename")], help: "A site file or a directory of them (repeatable).")
    var files: [String] = []
    @Flag(name: .customLong("dry-run"), help: "Show what would change; write nothing.") var dryRun = false
    @Option(help: "Why (kept on the approval requests this creates).") var reason: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give the site files: -f FILE or -f DIRECTORY") }
    }

    func run() async throws {
        let sources = try SiteFiles.read(files)
        let result = try await global.api().call {
            try await $0.applyInventory(body: .json(.init(files: sources, dryRun: dryRun, reason: reason))).ok.body.json
        }
        if global.output != .table { return try global.output == .json ? Terminal.write(Render.json(result)) : Terminal.write(Render.yaml(result)) }
        if result.creates + result.updates + result.deletes + result.pendingApproval == 0 {
            return Terminal.write("No changes: the inventory matches the site files.")
        }
        Terminal.write(result.diff.hasSuffix("\n") ? String(result.diff.dropLast()) : result.diff)
        let verb = dryRun ? "Plan" : "Applied"
        Terminal.write("\n\(verb): \(result.creates) to create, \(result.updates) to update, \(result.deletes) to delete"
                       + (result.pendingApproval > 0 ? "; \(result.pendingApproval) waiting for approval" : "") + ".")
        for approval in result.approvals {
            let values = try InventoryValue.dictionary(approval)
            Terminal.write("approval \(InventoryValue.cell(values["id"])): \(InventoryValue.cell(values["summary"]))"
                           + " — dv approval approve \(InventoryValue.cell(values["id"]))")
        }
    }
}

/// Reads site files and directories of them, in a stable order, for `dv apply`.
enum SiteFiles {
    static let maxBytes = 32 << 20

    static func read(_ paths: [String]) throws -> [Components.Schemas.InventoryApplyRequest.FilesPayloadPayload] {
        var files: [Components.Schemas.InventoryApplyRequest.FilesPayloadPayload] = []
        var total = 0
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CommandFailure(message: "error: \(path): no such file or directory")
            }
            let names = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                    .sorted().map { URL(fileURLWithPath: path).appendingPathComponent($0).path }
                : [path]
            if isDirectory.boolValue, names.isEmpty { throw CommandFailure(message: "error: \(path) has no .yaml files") }
            for name in names {
                guard let data = FileManager.default.contents(atPath: name) else { throw CommandFailure(message: "error: cannot read \(name)") }
                total += data.count
                guard total <= maxBytes else { throw CommandFailure(message: "error: the site files are larger than \(maxBytes >> 20) MiB together") }
                guard let text = String(data: data, encoding: .utf8) else { throw CommandFailure(message: "error: \(name) is not UTF-8 text") }
                files.append(.init(name: name, content: text))
            }
        }
        return files
    }
}
