"""GitHub's REST API through githubkit (typed, httpx, sync): :mod:`.client` builds the client
(token, GitHub Enterprise base URL, retries) and turns GitHub's answers into clear errors;
:mod:`.comments` lists, creates and edits the comments of a pull request. Does I/O."""

from reconciler.drivers.github.client import GitHubTarget, connect
from reconciler.drivers.github.comments import Comment, PullRequestComments

__all__ = ["Comment", "GitHubTarget", "PullRequestComments", "connect"]
