"""Plans on pull requests (issue 16, part 1): the comment body, the GitHub client against
GitHub's own API description, the changed environments."""
