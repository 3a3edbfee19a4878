import DataverketStore

struct Command {}
