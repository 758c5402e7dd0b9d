"""The evidence dossier of one invoice: what an owner hands to a lawyer.

``record`` reads everything the store holds about the invoice (scoped by its shop) into plain
values; ``document`` lays it out as a PDF, ``bundle`` zips the PDF with the raw messages, letters
and webhook bodies; ``injonction`` computes the claim to a date and lays out the facts in the
order the French summary payment order request asks for them."""
