import DVCommands
#if canImport(Glibc)
import Glibc
#endif

@main
struct DVMain {
    static func main() async {
        exit(await DVCLI.run(arguments: Array(CommandLine.arguments.dropFirst())))
    }
}
