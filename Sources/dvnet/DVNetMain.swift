import DVCommands
#if canImport(Glibc)
import Glibc
#endif

@main
struct DVNetMain {
    static func main() async {
        exit(await DVCLI.run(DVNetCommand.self, arguments: Array(CommandLine.arguments.dropFirst())))
    }
}
