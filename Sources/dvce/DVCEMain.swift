import DVCommands
#if canImport(Glibc)
import Glibc
#endif

@main
struct DVCEMain {
    static func main() async {
        exit(await DVCLI.run(DVCECommand.self, arguments: Array(CommandLine.arguments.dropFirst())))
    }
}
