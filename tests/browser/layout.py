"""Layout checks the browser tests share."""

# How far the page's content sticks out to the right of the screen, in CSS pixels. The site
# header is left out: it is base.html's, and these checks are about the pages' own content.
OVERFLOW = """() => {
  document.querySelector("body > header")?.remove();
  return document.documentElement.scrollWidth - document.documentElement.clientWidth;
}"""
