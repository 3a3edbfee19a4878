import ArgumentParser

/// `dv approval …`
struct ApprovalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approval", abstract: "Sensitive inventory changes waiting for an operator's decision.",
        subcommands: [ApprovalList.self, ApprovalShow.self, ApprovalApprove.self, ApprovalReject.self])
}
