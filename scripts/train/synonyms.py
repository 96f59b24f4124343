"""synonyms.py — common synonyms of a word, from Debian's WordNet (package wordnet-base).

A model trained from scratch on templates knows only the words the templates
use: a request with a verb it never saw is a phrasing it cannot read, which
no amount of slot variety fixes (most misses left on the first held-out set
were of that kind). A pretrained base model would bring that word knowledge;
none can be had here, so the training data borrows it from a dictionary: a
request's opening verb is swapped for a WordNet synonym (swap_verb), so the
same call follows many more verbs.

Only well-attested senses and synonyms are used, so most swaps stay ordinary
English: a word is read as the part of speech it is most used as (or the one
asked for), its senses are those its SemCor tag counts (cntlist.rev) show in
use at least 0.35 times as often as its most used sense, and a synonym must
itself be tagged in that sense at least once ("close" -> "shut", "shut down";
not "near", an adjective, nor "close up", never tagged). Multi-word lemmas
come back with spaces ("switch off"), at most two words.

Usage: synonyms.py WORD...   (prints each word's synonyms)
"""

import os
import re
import sys

WORDNET = "/usr/share/wordnet"
_POS = {"noun": "1", "verb": "2", "adj": "3", "adv": "4"}   # sense-key ss_type numbers
_MIN_SHARE = 0.35     # a sense used less than this share of the word's top sense is left out
_MAX_WORDS = 2
# Words that open requests but whose verb senses are other words: modals
# ("can" is also to tin food), "please" (to delight), and light verbs whose
# meaning lives in what follows ("get rid of" is no "go rid of", "make it
# warmer" no "do it warmer", "run the fan" no "lam the fan").
_NOT_VERBS = {"can", "could", "would", "will", "shall", "should", "may", "might", "must", "please",
              "get", "go", "make", "do", "let", "have", "run", "need", "want", "give", "take",
              "keep", "bring", "is", "are", "be", "am", "tell", "show", "how", "what", "when"}


def available():
    return os.path.exists(os.path.join(WORDNET, "cntlist.rev"))


class WordNet:
    def __init__(self, root=WORDNET):
        if not os.path.exists(os.path.join(root, "cntlist.rev")):
            raise FileNotFoundError("%s: no WordNet database (apt-get install wordnet-base)" % root)
        self.count = {}       # sense key -> SemCor tag count
        with open(os.path.join(root, "cntlist.rev")) as f:
            for line in f:
                key, _, n = line.split()
                self.count[key] = int(n)
        self.index = {}       # (pos, lemma) -> [synset offsets], most used first
        for pos in _POS:
            with open(os.path.join(root, "index." + pos)) as f:
                for line in f:
                    if line.startswith(" "):
                        continue      # the licence header
                    p = line.split()
                    n_syn, n_ptr = int(p[2]), int(p[3])
                    self.index[(pos, p[0])] = [int(o) for o in p[6 + n_ptr:6 + n_ptr + n_syn]]
        self._files = {pos: open(os.path.join(root, "data." + pos), "rb") for pos in _POS}
        self._cache = {}

    def synset(self, pos, offset):
        """[(lemma, tag count)] of the synset at this offset (satellite adjectives count 0)."""
        f = self._files[pos]
        f.seek(offset)     # a synset's offset is its byte offset in data.POS
        p = f.readline().decode("utf-8").split()
        lex_file, ss_type, n = int(p[1]), p[2], int(p[3], 16)
        out = []
        for k in range(n):
            word, lex_id = p[4 + 2 * k], int(p[5 + 2 * k], 16)
            lemma = re.sub(r"\(.*\)$", "", word).lower()
            key = "%s%%%s:%02d:%02d::" % (lemma, _POS[pos], lex_file, lex_id)
            out.append((lemma, 0 if ss_type == "s" else self.count.get(key, 0)))
        return out

    def synonyms(self, word, pos=None):
        """Sorted common synonyms of word (see the module doc) as this part of speech
        ("noun", "verb", "adj", "adv"), or as the one it is most used as."""
        word = word.lower()
        if (word, pos) in self._cache:
            return self._cache[(word, pos)]
        key = word.replace(" ", "_")
        found = set()
        best = None   # the part of speech the word is most used as: "close" a verb, not "near"
        for p in [pos] if pos else _POS:
            sets = [self.synset(p, o) for o in self.index.get((p, key), [])]
            own = [dict(s).get(key, 0) for s in sets]
            if own and (best is None or sum(own) > sum(best[1])):
                best = (sets, own)
        if best and max(best[1]) > 0:
            sets, own = best
            for s, n in zip(sets, own):
                if n < max(2, _MIN_SHARE * max(own)):
                    continue
                for lemma, c in s:
                    text = lemma.replace("_", " ")
                    if c >= 1 and text != word and len(text.split(" ")) <= _MAX_WORDS \
                            and re.fullmatch(r"[a-z]+( [a-z]+)?", text):
                        found.add(text)
        self._cache[(word, pos)] = sorted(found)
        return self._cache[(word, pos)]

    def is_verb(self, phrase):
        return ("verb", phrase.replace(" ", "_")) in self.index

    def swap_verb(self, rng, core):
        """core with its opening verb swapped for a synonym, or None when it has none.

        A phrasal verb is one verb ("turn off" -> "switch off"; "switch off"
        never becomes "swap off"); a word in braces is a slot, never a verb.
        """
        ws = core.split(" ")
        if ws[0] in _NOT_VERBS:
            return None
        if len(ws) > 1 and "{" not in ws[1] and self.is_verb(ws[0] + " " + ws[1]):
            n = 2
        elif "{" not in ws[0] and self.is_verb(ws[0]):
            n = 1
        else:
            return None
        syn = self.synonyms(" ".join(ws[:n]), "verb")
        return " ".join([rng.choice(syn)] + ws[n:]) if syn else None


def main(argv):
    wn = WordNet()
    for w in argv[1:]:
        print("%s: %s" % (w, ", ".join(wn.synonyms(w))))


if __name__ == "__main__":
    main(sys.argv)
