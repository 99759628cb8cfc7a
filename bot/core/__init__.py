"""The engine: documents, chunking, embedding, vector and lexical indexes, the index store,
question analysis and answering. It imports no front end and no front-end library; it takes
its own settings (bot.core.settings) and hands out plain data (bot.core.types)."""
