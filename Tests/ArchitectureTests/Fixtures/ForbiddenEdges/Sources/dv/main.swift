import DVCommands
