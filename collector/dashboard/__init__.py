"""The analysts' dashboard and monthly report: pictures of the Stats API's answers.

It reads only through Stats.Query with the analyst's own token (collector.client),
so it runs wherever an analyst token works, and it can show nothing an analyst
could not already ask for.
"""
