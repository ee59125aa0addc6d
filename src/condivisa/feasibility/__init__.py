"""Feasibility study of a renewable energy community still to be built (``condivisa feasibility``).

A plan (:mod:`condivisa.feasibility.plan_file`) lists the prospective members, the candidate plants, the
proposed rules and the economics; :mod:`condivisa.feasibility.study` simulates the reference year, settles
it with the platform's settlement engine, and answers: shared energy and sharing %, premium, valorisation and
sale, each member's money by the proposed rules, 20-year NPV and payback per plant owner and for the
community, how many more consumers of each kind would absorb the surplus
(:mod:`condivisa.feasibility.absorb`) and what one newcomer changes (:mod:`condivisa.feasibility.join`).
"""
