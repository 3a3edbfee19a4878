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
                if isServerGoingAway(psql) { return DataverketError(.unavailable, "the database is unreachable", cause: error) }
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

    /// Whether `error` (or the driver error a `DataverketError` wraps) says the database could not be reached — the
    /// connection refused or lost, the server shutting down, crashed or still starting — rather than that it refused
    /// a statement: a caller can wait for it to come back and try again, nothing about the work itself failed.
    public static func isUnreachable(_ error: any Error) -> Bool {
        if let error = error as? DataverketError { return error.cause.map(isUnreachable) ?? false }
        if error is NoConnection { return true }
        if let psql = error as? PSQLError {
            switch psql.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown: return true
            default: return isServerGoingAway(psql)
            }
        }
        return error is ChannelError
    }

    /// SQLSTATE class 08 (connection exception) and 57P01–57P03 (admin shutdown, crash shutdown, cannot connect now:
    /// what a server that is stopping, crashed or starting answers).
    private static func isServerGoingAway(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
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
