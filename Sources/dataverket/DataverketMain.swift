import DataverketServer
import Logging

@main
struct DataverketMain {
    static func main() async {
        LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        await DataverketCommand.main()
    }
}
