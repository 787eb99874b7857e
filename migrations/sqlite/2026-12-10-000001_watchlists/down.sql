DROP TABLE watchlist_subjects;
DROP TABLE watchlists;
