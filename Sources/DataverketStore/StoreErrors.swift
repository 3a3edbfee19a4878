import DataverketCore
import PostgresNIO
import SQLiteNIO

/// Maps engine errors onto `DataverketError` so callers never see driver types.
public enum StoreErrors {
    public static func translate(_ error: any Error) -> any Error {
        if error is DataverketError || error is CancellationError { return error }
        if isUniqueViolation(error) {
            return DataverketError(.alreadyExists, "a resource with these identifying fields already exists", cause: error)
        }
        if isForeignKeyViolation(error) {
            return DataverketError(.conflict, "the change refers to or is referred to by another resource", cause: error)
        }
        if let psql = error as? PSQLError {
            switch psql.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown:
                return DataverketError(.unavailable, "the database is unreachable", cause: error)
            default:
                return DataverketError(.storeFailure, "the database rejected a statement", cause: error)
            }
        }
        if error is SQLiteError {
            return DataverketError(.storeFailure, "the embedded database failed", cause: error)
        }
        if let channelError = error as? ChannelError {
            return DataverketError(.unavailable, "the database is unreachable", cause: channelError)
        }
        return error
    }

    public static func isUniqueViolation(_ error: any Error) -> Bool {
        if let psql = error as? PSQLError { return psql.serverInfo?[.sqlState] == "23505" }
        if let lite = error as? SQLiteError {
            return lite.reason == .constraintUniqueFailed || lite.reason == .constraintPrimaryKeyFailed
                || lite.reason == .constraintUniqueRowIDFailed
        }
        return false
    }

    public static func isForeignKeyViolation(_ error: any Error) -> Bool {
        if let psql = error as? PSQLError { return psql.serverInfo?[.sqlState] == "23503" }
        if let lite = error as? SQLiteError { return lite.reason == .constraintForeignKeyFailed }
        return false
    }
}
