// swift-tools-version:6.2
// A fixture for ArchitectureTests: a package with edges the layer table forbids. Never built.
import PackageDescription

let package = Package(
    name: "forbidden-edges",
    products: [.executable(name: "dv", targets: ["dv"])],
    targets: [
        .target(name: "DataverketCore"),
        .target(name: "DataverketStore", dependencies: ["DataverketCore"]),
        .target(name: "Nett", dependencies: ["DataverketCore"]),
        // Forbidden: a domain depending on another domain.
        .target(name: "Maskin", dependencies: ["DataverketCore", "Nett"]),
        // Forbidden: the CLI linking the store.
        .target(name: "DVCommands", dependencies: ["DataverketStore"]),
        .executableTarget(name: "dv", dependencies: ["DVCommands"]),
    ]
)
