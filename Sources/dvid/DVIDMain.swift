import DVCommands
#if canImport(Glibc)
import Glibc
#endif

@main
struct DVIDMain {
    static func main() async {
        exit(await DVCLI.run(DVIDCommand.self, arguments: Array(CommandLine.arguments.dropFirst())))
    }
}
